// attachMedia: a media element's events drive the session, and the session's
// refusals pause the element.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";

import { LeaseSession, attachMedia } from "../src/index.js";
import { FakeService, LEASE_ID, lease, problem, settle } from "./fake-service.js";

/** The part of an HTMLMediaElement the adapter uses, with calls counted. */
class FakeMedia extends EventTarget {
  ended = false;
  pauses = 0;
  plays = 0;
  pause() {
    this.pauses += 1;
    this.dispatchEvent(new Event("pause"));
  }
  play() {
    this.plays += 1;
    this.dispatchEvent(new Event("play"));
    return Promise.resolve();
  }
  fire(name: string) {
    this.dispatchEvent(new Event(name));
  }
}

let service: FakeService;
let media: FakeMedia;
let session: LeaseSession;

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout", "Date"] });
  mock.method(Math, "random", () => 0);
  service = new FakeService();
  media = new FakeMedia();
  session = new LeaseSession({
    baseUrl: "https://leases.example.com",
    userId: "alice",
    streamId: "movie-1",
    deviceId: "tv",
    fetch: service.fetch,
    pageEvents: null,
    idleTimeoutMs: 60_000,
  });
});

afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

describe("attachMedia", () => {
  it("play acquires, pause holds the slot, play again resumes without a new acquire", async () => {
    attachMedia(session, media);
    service.answer(201, lease());
    media.fire("play");
    await settle();
    assert.equal(session.state, "active");
    media.fire("pause");
    assert.equal(session.state, "paused");
    media.fire("play");
    await settle();
    assert.equal(session.state, "active");
    assert.deepEqual(service.newCalls(), ["POST /v1/users/alice/leases"]);
  });

  it("ended and emptied release the lease", async () => {
    attachMedia(session, media);
    for (const event of ["ended", "emptied"]) {
      service.answer(201, lease()).answer(204);
      media.fire("play");
      await settle();
      // A media element fires pause just before ended.
      media.ended = event === "ended";
      media.fire("pause");
      media.fire(event);
      await settle();
      assert.equal(session.state, "stopped", event);
      assert.deepEqual(service.newCalls().at(-1), `DELETE /v1/users/alice/leases/${LEASE_ID}`);
      media.ended = false;
    }
  });

  it("pauses the element when the lease ends, and play acquires again", async () => {
    attachMedia(session, media);
    service.answer(201, lease());
    media.fire("play");
    await settle();
    service.answer(410, problem(410, "lease_ended", { reason: "terminated" }));
    mock.timers.tick(10_000);
    await settle();
    assert.equal(session.state, "ended");
    assert.equal(media.pauses, 1);
    service.answer(409, problem(409, "limit_reached", { limit: 3, active: 3, leases: [] }));
    media.fire("play");
    await settle();
    assert.equal(session.state, "limit");
    assert.equal(media.pauses, 2);
  });

  it("pauses at the limit and plays once the viewer stopped another stream", async () => {
    attachMedia(session, media);
    let terminate: (ids: string[]) => Promise<void> = async () => {};
    session.on("limit", (limit) => (terminate = limit.terminate));
    service.answer(409, problem(409, "limit_reached", { limit: 1, active: 1, leases: [lease({ lease_id: "x" })] }));
    media.fire("play");
    await settle();
    assert.equal(media.pauses, 1);
    service.answer(201, lease({ terminated: ["x"] }));
    await terminate(["x"]);
    assert.equal(media.plays, 1);
    assert.equal(session.state, "active");
  });

  it("detaching stops the wiring", async () => {
    const detach = attachMedia(session, media);
    detach();
    media.fire("play");
    await settle();
    assert.equal(session.state, "idle");
    assert.deepEqual(service.newCalls(), []);
  });
});
