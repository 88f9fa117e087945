// The device claim: two live pages never send one device id.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";

import { claimDevice, type LockManagerLike } from "../src/device.js";
import { LeaseSession } from "../src/index.js";
import { FakeService, LEASE_ID, lease, settle } from "./fake-service.js";

/** Web Locks as one browser origin has them, shared by every page. */
class FakeLocks implements LockManagerLike {
  readonly held = new Set<string>();
  async request(name: string, _options: { ifAvailable: true }, callback: (lock: unknown) => Promise<void> | undefined) {
    if (this.held.has(name)) return callback(null);
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

let service: FakeService;

beforeEach(() => {
  service = new FakeService();
});

afterEach(() => mock.restoreAll());

describe("device claim", () => {
  it("the first page keeps its id; a copy of it plays as a device of its own", async () => {
    const locks = new FakeLocks();
    const original = await claimDevice("alice", "tab-1", locks);
    const copy = await claimDevice("alice", "tab-1", locks);
    assert.equal(original.deviceId, "tab-1");
    assert.match(copy.deviceId, /^tab-1\.[a-z0-9]{8}$/);
    // Another user's device of the same name is another claim.
    assert.equal((await claimDevice("bob", "tab-1", locks)).deviceId, "tab-1");
    // Once the original gives its claim up, the id is free again.
    original.release();
    await settle();
    assert.equal((await claimDevice("alice", "tab-1", locks)).deviceId, "tab-1");
  });

  it("keeps a derived id within the 128 bytes an id may have", async () => {
    const locks = new FakeLocks();
    const long = "d".repeat(128);
    await claimDevice("alice", long, locks);
    const copy = await claimDevice("alice", long, locks);
    assert.equal(copy.deviceId.length, 128);
    assert.notEqual(copy.deviceId, long);
  });

  it("without Web Locks takes the id as given", async () => {
    assert.equal((await claimDevice("alice", "tab-1", null)).deviceId, "tab-1");
  });

  it("a duplicated page's session acquires with its own device, and dispose frees the claim", async () => {
    const locks = new FakeLocks();
    const page = (name: string) =>
      new LeaseSession({ baseUrl: "https://l.example", userId: "alice", streamId: name, deviceId: "tab-1", fetch: service.fetch, pageEvents: null, locks });
    const original = page("movie-1");
    service.answer(201, lease());
    await original.start();
    const copy = page("movie-1");
    service.answer(409, { type: "about:blank", title: "x", status: 409, detail: "x", code: "limit_reached", limit: 1, active: 1, leases: [] });
    await copy.start();
    const [first, second] = service.sent.map((r) => r.body as { device_id: string });
    assert.equal(first!.device_id, "tab-1");
    assert.notEqual(second!.device_id, "tab-1", "the copy must not renew the original's lease");
    assert.equal(copy.deviceId, second!.device_id);
    assert.equal(copy.state, "limit");

    service.answer(204);
    original.dispose();
    await settle();
    assert.equal(service.last().path, `/v1/users/alice/leases/${LEASE_ID}`);
    assert.equal(locks.held.has("streamlease:alice:tab-1"), false, "the claim ends with the session");
  });
});
