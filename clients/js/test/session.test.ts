// LeaseSession against every answer the service can give, on mocked timers:
// time moves only when a test ticks it.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";

import { LeaseSession, type LeaseSessionEvents, type LeaseSessionOptions } from "../src/index.js";
import { FakeService, LEASE_ID, lease, problem, settle } from "./fake-service.js";

const HEARTBEAT = `POST /v1/users/alice/leases/${LEASE_ID}/heartbeat`;
const ACQUIRE = "POST /v1/users/alice/leases";
const RELEASE = `DELETE /v1/users/alice/leases/${LEASE_ID}`;

let service: FakeService;

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.parse("2026-12-01T10:00:00Z") });
  // No jitter unless a test asks for it: heartbeats land on the interval.
  mock.method(Math, "random", () => 0);
  service = new FakeService();
});

afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

function session(options: Partial<LeaseSessionOptions> = {}) {
  return new LeaseSession({
    baseUrl: "https://leases.example.com/",
    userId: "alice",
    streamId: "movie-1",
    deviceId: "tv",
    fetch: service.fetch,
    pageEvents: null,
    locks: null,
    ...options,
  });
}

/** Every event of `name` the session emits, in order. */
function record<K extends keyof LeaseSessionEvents>(s: LeaseSession, name: K): LeaseSessionEvents[K][] {
  const seen: LeaseSessionEvents[K][] = [];
  s.on(name, (event) => seen.push(event));
  return seen;
}

/** Moves time on. Timers set by what runs meanwhile count from the end, so
 * tick one interval at a time to see a chain of heartbeats. */
async function tick(ms: number) {
  mock.timers.tick(ms);
  await settle();
}

/** A session holding a lease: one acquire answered 201. */
async function started(options: Partial<LeaseSessionOptions> = {}) {
  const s = session(options);
  service.answer(201, lease());
  await s.start();
  await settle();
  assert.equal(s.state, "active");
  service.newCalls();
  return s;
}

describe("acquire", () => {
  it("sends the stream and device and is granted a lease", async () => {
    const s = session({ onLimit: "evict_oldest" });
    const granted = record(s, "granted");
    service.answer(201, lease());
    await s.start();
    assert.deepEqual(service.newCalls(), [ACQUIRE]);
    assert.deepEqual(service.last().body, { stream_id: "movie-1", device_id: "tv", on_limit: "evict_oldest" });
    assert.equal(s.state, "active");
    assert.equal(s.lease?.lease_id, LEASE_ID);
    assert.deepEqual(granted, [{ lease: lease(), restored: false }]);
  });

  it("does not acquire twice while a lease is held", async () => {
    const s = await started();
    await s.start();
    assert.deepEqual(service.newCalls(), []);
  });

  it("offers the live leases at the limit, and terminating one acquires in the same call", async () => {
    const s = session();
    const limits = record(s, "limit");
    const others = [lease({ lease_id: "a", device_id: "phone" }), lease({ lease_id: "b", device_id: "tablet" })];
    service.answer(409, problem(409, "limit_reached", { limit: 2, active: 2, leases: others }));
    await s.start();
    assert.equal(s.state, "limit");
    assert.equal(limits.length, 1);
    assert.deepEqual([limits[0]!.limitClass, limits[0]!.limit, limits[0]!.active, limits[0]!.leases], ["total", 2, 2, others]);

    service.answer(201, lease({ terminated: ["a"] }));
    await limits[0]!.terminate(["a"]);
    assert.deepEqual(service.last().body, { stream_id: "movie-1", device_id: "tv", terminate: ["a"] });
    assert.equal(s.state, "active");
  });

  it("says which limit refused: the total, or a stream class", async () => {
    const s = session();
    const limits = record(s, "limit");
    const uhd = [lease({ lease_id: "a", device_id: "tv-2", classes: ["uhd"] })];
    service.answer(409, problem(409, "limit_reached", { limit_class: "uhd", limit: 1, active: 1, leases: uhd }));
    await s.start();
    assert.deepEqual([limits[0]!.limitClass, limits[0]!.limit, limits[0]!.leases], ["uhd", 1, uhd]);
  });

  it("can retry at the limit without ending anything", async () => {
    const s = session();
    const limits = record(s, "limit");
    service.answer(409, problem(409, "limit_reached", { limit: 1, active: 1, leases: [] }));
    await s.start();
    service.answer(201, lease());
    await limits[0]!.retry();
    assert.deepEqual(service.last().body, { stream_id: "movie-1", device_id: "tv" });
    assert.equal(s.state, "active");
  });

  it("reports a degraded (fail-open) lease and keeps heartbeating it", async () => {
    const s = session();
    const degraded = record(s, "degraded");
    service.answer(201, lease({ degraded: true, active: undefined, limit: undefined }));
    await s.start();
    assert.equal(degraded.length, 1);
    assert.equal(s.state, "active");
    service.answer(200, lease({ restored: true }));
    const granted = record(s, "granted");
    await tick(10_000);
    assert.deepEqual(service.newCalls(), [ACQUIRE, HEARTBEAT]);
    assert.deepEqual(granted, [{ lease: lease({ restored: true }), restored: true }]);
  });

  it("fails on an answer no retry can fix, and says why", async () => {
    const s = session({ userId: "bad id" });
    const errors = record(s, "error");
    service.answer(400, problem(400, "invalid_request"));
    await s.start();
    assert.equal(s.state, "failed");
    assert.equal(errors[0]!.error.code, "invalid_request");
    assert.equal(errors[0]!.error.status, 400);
    assert.match(service.last().path, /^\/v1\/users\/bad%20id\/leases$/);
  });
});

describe("heartbeat", () => {
  it("renews at the server's interval with no body, the service's cheapest call", async () => {
    const s = await started();
    const renewed = record(s, "renewed");
    service.answer(200, lease({ heartbeat_interval_ms: 4_000 }));
    await tick(9_999);
    assert.deepEqual(service.newCalls(), []);
    await tick(1);
    assert.deepEqual(service.newCalls(), [HEARTBEAT]);
    assert.equal(service.last().body, undefined);
    assert.equal(renewed.length, 1);
    // The next one follows the interval the last answer named.
    service.answer(200, lease());
    await tick(4_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT]);
  });

  it("comes up to the jitter early, never late", async () => {
    mock.method(Math, "random", () => 1);
    await started({ jitter: 0.2 });
    service.answer(200, lease());
    await tick(7_999);
    assert.deepEqual(service.newCalls(), []);
    await tick(1);
    assert.deepEqual(service.newCalls(), [HEARTBEAT]);
  });

  it("after a 404 goes again with the stream and device, and reports the restored lease as granted", async () => {
    const s = await started();
    const granted = record(s, "granted");
    service
      .answer(404, problem(404, "lease_not_found"))
      .answer(200, lease({ restored: true, acquired_at: "2026-12-01T10:00:10.000Z" }));
    await tick(10_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT, HEARTBEAT]);
    assert.deepEqual(service.last().body, { stream_id: "movie-1", device_id: "tv" });
    assert.equal(granted.length, 1);
    assert.equal(granted[0]!.restored, true);
    assert.equal(s.state, "active");
    // Back to bare heartbeats.
    service.answer(200, lease());
    await tick(10_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT]);
    assert.equal(service.last().body, undefined);
  });

  it("acquires again when the restore is 404 too: the lease could not be restored", async () => {
    const s = await started();
    service
      .answer(404, problem(404, "lease_not_found"))
      .answer(404, problem(404, "lease_not_found"))
      .answer(201, lease({ lease_id: "new" }));
    await tick(10_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT, HEARTBEAT, ACQUIRE]);
    assert.equal(s.lease?.lease_id, "new");
    assert.equal(s.state, "active");
  });

  it("stops on 410 and says why and who took the slot", async () => {
    const s = await started();
    const ended = record(s, "ended");
    service.answer(410, problem(410, "lease_ended", { reason: "terminated", by_lease_id: "tablet-lease" }));
    await tick(10_000);
    assert.equal(s.state, "ended");
    assert.deepEqual(ended, [{ reason: "terminated", byLeaseId: "tablet-lease" }]);
    assert.equal(s.lease, null);
    await tick(60_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT], "no heartbeat after the end");
  });

  it("offers the leases when a restore finds no free slot (409)", async () => {
    const s = await started();
    const limits = record(s, "limit");
    service
      .answer(404, problem(404, "lease_not_found"))
      .answer(409, problem(409, "limit_reached", { limit: 3, active: 3, leases: [lease({ lease_id: "x" })] }));
    await tick(10_000);
    assert.equal(s.state, "limit");
    assert.equal(limits[0]!.leases[0]!.lease_id, "x");
    await tick(60_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT, HEARTBEAT]);
  });
});

describe("when the store or the network fails", () => {
  it("keeps the session active and retries after Retry-After, backing off up to the heartbeat interval", async () => {
    const s = await started();
    const unavailable = record(s, "unavailable");
    const down = problem(503, "store_unavailable");
    service.answer(503, down, { "retry-after": "2" }).answer(503, down, { "retry-after": "2" });
    service.answer(503, down, { "retry-after": "2" }).answer(503, down, { "retry-after": "2" });
    await tick(10_000);
    assert.equal(s.state, "active", "the player keeps playing");
    assert.deepEqual(
      unavailable.map((u) => [u.code, u.status, u.retryInMs, u.attempt]),
      [["store_unavailable", 503, 2_000, 1]],
    );
    await tick(2_000);
    await tick(4_000);
    await tick(8_000);
    // 2 s, 4 s, 8 s, then capped at the 10 s heartbeat interval.
    assert.deepEqual(unavailable.map((u) => u.retryInMs), [2_000, 4_000, 8_000, 10_000]);
    service.answer(200, lease());
    const renewed = record(s, "renewed");
    await tick(9_999);
    assert.equal(renewed.length, 0);
    await tick(1);
    assert.equal(renewed.length, 1);
    assert.equal(service.newCalls().length, 5);
    // Back to normal: the next failure starts from the beginning again.
    service.answer(503, down, { "retry-after": "1" });
    await tick(10_000);
    assert.equal(unavailable.at(-1)!.retryInMs, 1_000);
  });

  it("retries a heartbeat that got no answer at all", async () => {
    const s = await started();
    const unavailable = record(s, "unavailable");
    service.unreachable().answer(200, lease());
    await tick(10_000);
    assert.deepEqual([unavailable[0]!.code, unavailable[0]!.status, unavailable[0]!.retryInMs], ["unreachable", null, 1_000]);
    await tick(1_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT, HEARTBEAT]);
    assert.equal(s.state, "active");
  });

  it("retries an acquire while the store is down, and a store error too", async () => {
    const s = session();
    const unavailable = record(s, "unavailable");
    service.answer(503, problem(503, "store_unavailable"), { "retry-after": "1" });
    service.answer(500, problem(500, "store_error"));
    service.answer(201, lease());
    await s.start();
    assert.equal(s.state, "acquiring");
    await tick(1_000);
    await tick(2_000);
    assert.deepEqual(service.newCalls(), [ACQUIRE, ACQUIRE, ACQUIRE]);
    assert.deepEqual(unavailable.map((u) => u.code), ["store_unavailable", "store_error"]);
    assert.equal(s.state, "active");
  });

  it("gives up a call after the request timeout and retries it", async () => {
    const s = await started({ requestTimeoutMs: 3_000 });
    const unavailable = record(s, "unavailable");
    // A fetch that never answers until aborted.
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(new Error("aborted"))));
    const realFetch = service.fetch;
    let calls = 0;
    (s as unknown as { wire: { fetch: typeof fetch } }).wire.fetch = (input, init) =>
      ++calls === 1 ? hanging(input, init) : realFetch(input, init);
    service.answer(200, lease());
    await tick(10_000);
    assert.equal(unavailable.length, 0);
    await tick(3_000);
    assert.equal(unavailable.length, 1);
    await tick(1_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT]);
    assert.equal(s.state, "active");
  });
});

describe("tokens", () => {
  function jwt(expSeconds: number): string {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    return `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub: "alice", exp: expSeconds })}.signature`;
  }
  const now = () => Math.floor(Date.now() / 1000);

  it("sends the token as a bearer, and asks for a new one before it expires", async () => {
    const reasons: string[] = [];
    const t0 = now();
    const [first, second] = [jwt(t0 + 75), jwt(t0 + 3_600)];
    const tokens = [first, second];
    const s = session({
      getToken: (reason) => {
        reasons.push(reason);
        return tokens.shift() ?? null;
      },
    });
    service.answer(201, lease());
    await s.start();
    assert.equal(service.last().authorization, `Bearer ${first}`);
    service.answer(200, lease());
    await tick(10_000);
    assert.deepEqual(reasons, ["initial"], "65 s left: more than the 60 s margin");
    service.answer(200, lease());
    await tick(10_000);
    assert.deepEqual(reasons, ["initial", "expiring"]);
    assert.equal(service.last().authorization, `Bearer ${second}`);
  });

  it("asks for a new token after a 401 and sends the call again with it", async () => {
    const reasons: string[] = [];
    const s = session({
      getToken: async (reason) => {
        reasons.push(reason);
        return reason === "refused" ? "fresh" : "stale";
      },
    });
    service.answer(401, problem(401, "unauthorized")).answer(201, lease());
    await s.start();
    assert.deepEqual(reasons, ["initial", "refused"]);
    assert.deepEqual(service.sent.map((r) => r.authorization), ["Bearer stale", "Bearer fresh"]);
    assert.equal(s.state, "active");
  });

  it("fails when the fresh token is refused too", async () => {
    const s = session({ getToken: () => "nope" });
    const errors = record(s, "error");
    service.answer(401, problem(401, "unauthorized")).answer(401, problem(401, "unauthorized"));
    await s.start();
    assert.equal(s.state, "failed");
    assert.equal(errors[0]!.error.code, "unauthorized");
  });

  it("fails on 403: the token is for another user", async () => {
    const s = session({ getToken: () => "bob's token" });
    service.answer(403, problem(403, "forbidden"));
    await s.start();
    assert.equal(s.state, "failed");
    assert.equal(service.sent.length, 1);
  });

  it("retries when getToken itself fails", async () => {
    let fail = true;
    const s = session({
      getToken: () => {
        if (fail) throw new Error("auth backend down");
        return "token";
      },
    });
    const unavailable = record(s, "unavailable");
    await s.start();
    assert.equal(unavailable[0]!.code, "unreachable");
    fail = false;
    service.answer(201, lease());
    await tick(1_000);
    assert.equal(s.state, "active");
  });
});

describe("release", () => {
  it("stop() releases the lease and heartbeats cease", async () => {
    const s = await started();
    const released = record(s, "released");
    service.answer(204);
    await s.stop();
    assert.deepEqual(service.newCalls(), [RELEASE]);
    assert.equal(service.last().keepalive, true);
    assert.equal(s.state, "stopped");
    assert.deepEqual(released, [{ cause: "stop" }]);
    await tick(60_000);
    assert.deepEqual(service.newCalls(), []);
  });

  it("start() right after stop() waits for the release to land, so it cannot end the new lease", async () => {
    const s = await started();
    const releaseLands = service.held(204);
    const stopping = s.stop();
    // The same device's acquire renews the lease the release is ending.
    service.answer(200, lease());
    const starting = s.start();
    await settle();
    assert.deepEqual(service.newCalls(), [RELEASE], "the acquire went out before the release landed");
    releaseLands();
    await Promise.all([stopping, starting]);
    await settle();
    assert.deepEqual(service.newCalls(), [ACQUIRE]);
    assert.equal(s.state, "active");
    assert.equal(s.lease?.lease_id, LEASE_ID);
  });

  it("dispose() releases the lease it holds and stops heartbeating", async () => {
    const s = await started();
    const released = record(s, "released");
    service.answer(204);
    s.dispose();
    await settle();
    assert.deepEqual(service.newCalls(), [RELEASE]);
    assert.equal(service.last().keepalive, true);
    assert.equal(s.state, "stopped");
    assert.deepEqual(released, [{ cause: "dispose" }]);
    await tick(60_000);
    assert.deepEqual(service.newCalls(), []);
  });

  it("a heartbeat answer arriving after stop() is not acted on", async () => {
    const s = await started();
    let answer: (r: Response) => void = () => {};
    (s as unknown as { wire: { fetch: typeof fetch } }).wire.fetch = () => new Promise((resolve) => (answer = resolve));
    await tick(10_000);
    void s.stop();
    answer(new Response(JSON.stringify(lease()), { status: 200 }));
    await settle();
    assert.equal(s.state, "stopped");
    assert.equal(s.lease, null);
  });

  it("an acquire granted after stop() is released at once", async () => {
    const s = session();
    let answer: (r: Response) => void = () => {};
    const slow: typeof fetch = () => new Promise((resolve) => (answer = resolve));
    (s as unknown as { wire: { fetch: typeof fetch } }).wire.fetch = slow;
    const starting = s.start();
    await settle();
    const stopping = s.stop();
    (s as unknown as { wire: { fetch: typeof fetch } }).wire.fetch = service.fetch;
    service.answer(204);
    answer(new Response(JSON.stringify(lease()), { status: 201 }));
    await Promise.all([starting, stopping]);
    await settle();
    assert.deepEqual(service.newCalls(), [RELEASE]);
    assert.equal(s.state, "stopped");
  });

  it("pagehide releases by beacon, with the token in the query; pageshow from the cache acquires again", async () => {
    const page = new EventTarget();
    const beacons: string[] = [];
    const s = await started({
      pageEvents: page,
      getToken: () => "tok/en",
      sendBeacon: (url) => beacons.push(url) > 0,
    });
    const released = record(s, "released");
    page.dispatchEvent(new Event("pagehide"));
    assert.deepEqual(beacons, [`https://leases.example.com/v1/users/alice/leases/${LEASE_ID}/release?access_token=tok%2Fen`]);
    assert.equal(s.state, "stopped");
    assert.deepEqual(released, [{ cause: "pagehide" }]);
    await tick(60_000);
    assert.deepEqual(service.newCalls(), [], "no heartbeat after the page is gone");

    service.answer(201, lease());
    const show = Object.assign(new Event("pageshow"), { persisted: true });
    page.dispatchEvent(show);
    await settle();
    assert.deepEqual(service.newCalls(), [ACQUIRE]);
    assert.equal(s.state, "active");
  });

  it("falls back to a keepalive DELETE when the browser refuses the beacon", async () => {
    const page = new EventTarget();
    const s = await started({ pageEvents: page, sendBeacon: () => false });
    service.answer(204);
    page.dispatchEvent(new Event("pagehide"));
    await settle();
    assert.deepEqual(service.newCalls(), [RELEASE]);
    assert.equal(service.last().keepalive, true);
    assert.equal(s.state, "stopped");
  });

  it("a pause longer than the idle timeout gives the slot back; play acquires again", async () => {
    const s = await started({ idleTimeoutMs: 25_000 });
    const released = record(s, "released");
    s.pause();
    assert.equal(s.state, "paused");
    // Heartbeats go on while paused: the slot is still held.
    service.answer(200, lease()).answer(200, lease()).answer(204);
    await tick(10_000);
    await tick(10_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT, HEARTBEAT]);
    assert.equal(s.state, "paused", "a heartbeat answer does not unpause");
    await tick(5_000);
    assert.deepEqual(service.newCalls(), [RELEASE]);
    assert.deepEqual(released, [{ cause: "idle" }]);
    assert.equal(s.state, "stopped");

    service.answer(200, lease());
    await s.resume();
    assert.deepEqual(service.newCalls(), [ACQUIRE]);
    assert.equal(s.state, "active");
  });

  it("a short pause keeps the lease", async () => {
    const s = await started({ idleTimeoutMs: 25_000 });
    s.pause();
    await tick(5_000);
    await s.resume();
    assert.equal(s.state, "active");
    service.answer(200, lease()).answer(200, lease()).answer(200, lease());
    for (let i = 0; i < 3; i++) await tick(10_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT, HEARTBEAT, HEARTBEAT]);
  });
});

describe("switchStream", () => {
  it("moves the held lease to the next episode with the same device: one acquire, no release", async () => {
    const s = await started();
    const renewed = record(s, "renewed");
    const states = record(s, "state");
    service.answer(200, lease({ stream_id: "movie-2" }));
    await s.switchStream("movie-2");
    assert.deepEqual(service.newCalls(), [ACQUIRE]);
    assert.deepEqual(service.last().body, { stream_id: "movie-2", device_id: "tv" });
    assert.equal(s.lease?.lease_id, LEASE_ID);
    assert.equal(s.streamId, "movie-2");
    assert.equal(renewed.length, 1);
    assert.deepEqual(states, [], "the session stays active throughout");
    // Heartbeats go on for the moved lease, and a restore names the new stream.
    service.answer(404, problem(404, "lease_not_found")).answer(200, lease({ stream_id: "movie-2", restored: true }));
    await tick(10_000);
    assert.deepEqual(service.newCalls(), [HEARTBEAT, HEARTBEAT]);
    assert.deepEqual(service.last().body, { stream_id: "movie-2", device_id: "tv" });
  });

  it("without a device ends the old lease in the same step as it takes the new one", async () => {
    const s = await started({ deviceId: undefined });
    service.answer(201, lease({ lease_id: "b", terminated: [LEASE_ID] }));
    await s.switchStream("movie-2");
    assert.deepEqual(service.last().body, { stream_id: "movie-2", terminate: [LEASE_ID] });
    assert.equal(s.lease?.lease_id, "b");
  });

  it("before a lease is held only names the stream the next start asks for", async () => {
    const s = session();
    await s.switchStream("movie-2");
    assert.deepEqual(service.newCalls(), []);
    service.answer(201, lease({ stream_id: "movie-2" }));
    await s.start();
    assert.deepEqual(service.last().body, { stream_id: "movie-2", device_id: "tv" });
  });

  it("the same stream again sends nothing", async () => {
    const s = await started();
    await s.switchStream("movie-1");
    assert.deepEqual(service.newCalls(), []);
  });
});

describe("device name", () => {
  it("goes with every acquire and with a restore", async () => {
    await started({ deviceName: "Living-room TV" });
    assert.deepEqual(service.sent[0]!.body, { stream_id: "movie-1", device_id: "tv", device_name: "Living-room TV" });
    service.answer(404, problem(404, "lease_not_found")).answer(200, lease({ restored: true }));
    await tick(10_000);
    assert.deepEqual(service.last().body, { stream_id: "movie-1", device_id: "tv", device_name: "Living-room TV" });
  });
});

describe("classes", () => {
  it("go with every acquire and with a restore, and switchStream can change them", async () => {
    const s = await started({ classes: ["hd"] });
    assert.deepEqual(service.sent[0]!.body, { stream_id: "movie-1", device_id: "tv", classes: ["hd"] });
    service.answer(404, problem(404, "lease_not_found")).answer(200, lease({ restored: true }));
    await tick(10_000);
    assert.deepEqual(service.last().body, { stream_id: "movie-1", device_id: "tv", classes: ["hd"] });
    // The same stream in UHD: the lease moves to the new classes.
    service.answer(200, lease());
    await s.switchStream("movie-1", ["uhd"]);
    assert.deepEqual(service.last().body, { stream_id: "movie-1", device_id: "tv", classes: ["uhd"] });
    // The next episode keeps them.
    service.answer(200, lease({ stream_id: "movie-2" }));
    await s.switchStream("movie-2");
    assert.deepEqual(service.last().body, { stream_id: "movie-2", device_id: "tv", classes: ["uhd"] });
  });
});

describe("lease token", () => {
  it("holds the token the service signs, sends it back with each heartbeat, and drops it when the lease ends", async () => {
    const s = session();
    const changes = record(s, "leaseToken");
    service.answer(201, lease({ lease_token: "t1" }));
    await s.start();
    await settle();
    assert.equal(s.leaseToken, "t1");
    // Still good: the answer carries none, and the session keeps t1.
    service.answer(200, lease());
    await tick(10_000);
    assert.equal(service.last().leaseToken, "t1");
    assert.equal(s.leaseToken, "t1");
    // Half spent: a new one comes and is sent from then on.
    service.answer(200, lease({ lease_token: "t2" }));
    await tick(10_000);
    assert.equal(s.leaseToken, "t2");
    service.answer(410, problem(410, "lease_ended", { reason: "terminated" }));
    await tick(10_000);
    assert.equal(service.last().leaseToken, "t2");
    assert.equal(s.leaseToken, null, "no lease, no token");
    assert.deepEqual(changes, [{ token: "t1" }, { token: "t2" }, { token: null }]);
  });

  it("is not sent with an acquire, nor kept for another lease", async () => {
    const s = session();
    service.answer(201, lease({ lease_token: "t1" }));
    await s.start();
    await settle();
    assert.equal(service.sent[0]!.leaseToken, null);
    // The store lost the lease and could not restore it: a new one, no token yet.
    service
      .answer(404, problem(404, "lease_not_found"))
      .answer(404, problem(404, "lease_not_found"))
      .answer(201, lease({ lease_id: "other" }));
    await tick(10_000);
    assert.equal(s.lease?.lease_id, "other");
    assert.equal(s.leaseToken, null);
  });
});

describe("events", () => {
  it("once() hears one event; off() removes a handler added by on() or once()", async () => {
    const s = session();
    const seen: string[] = [];
    const onState = ({ state }: { state: string }) => seen.push(`on ${state}`);
    const onceState = ({ state }: { state: string }) => seen.push(`once ${state}`);
    const dropped = () => seen.push("dropped");
    s.on("state", onState);
    s.once("state", onceState);
    s.once("granted", dropped);
    s.off("granted", dropped);
    service.answer(201, lease());
    await s.start();
    s.off("state", onState);
    service.answer(204);
    await s.stop();
    assert.deepEqual(seen, ["on acquiring", "once acquiring", "on active"]);
  });
});
