// A page with one real player (video.js, hls.js or Shaka Player, from npm)
// wired to streamlease by the package's adapter, for the browser test
// (`test/browser/players.ts`). Settings come from the URL:
// ?player=hlsjs&service=http://127.0.0.1:8080&user=alice&device=tab-1&name=Tab%201&source=/test/media/episode-1/master.m3u8
// `window.harness` is what the test reads and drives.

import { LeaseSession } from "../../dist/esm/index.js";
import { attachHls } from "../../dist/esm/hlsjs.js";
import { attachShaka } from "../../dist/esm/shaka.js";
import { registerStreamlease } from "../../dist/esm/videojs.js";

const params = new URLSearchParams(location.search);
const options = {
  baseUrl: params.get("service"),
  userId: params.get("user"),
  streamId: params.get("stream") ?? "episode-1",
  deviceId: params.get("device"),
  deviceName: params.get("name") ?? undefined,
};
const source = params.get("source");
const video = document.getElementById("video");
const status = document.getElementById("status");

const harness = {
  state: "idle",
  leaseId: null,
  ended: null,
  /** Device names the limit chooser would offer. */
  limitNames: null,
  /** Events the player itself emitted (video.js re-emits the session's). */
  playerEvents: [],
  terminate: null,
  position: () => currentVideo().currentTime,
  paused: () => currentVideo().paused,
  /** The session's lease token, as it changes. */
  leaseToken: null,
  /** Media requests the player saw fail, by HTTP status (hls.js). */
  mediaErrors: [],
  /** The status of a GET of `url` carrying `token`: what a player that
   * ignores the service's answers would get from the edge. */
  probe: async (url, token) => (await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} })).status,
};
window.harness = harness;

function currentVideo() {
  return document.querySelector("video");
}

function watch(session) {
  harness.session = session;
  session.on("state", ({ state }) => {
    harness.state = state;
    status.dataset.state = state;
    status.textContent = state;
  });
  session.on("granted", ({ lease }) => (harness.leaseId = lease.lease_id));
  session.on("renewed", ({ lease }) => (harness.leaseId = lease.lease_id));
  session.on("ended", ({ reason }) => (harness.ended = reason));
  session.on("leaseToken", ({ token }) => (harness.leaseToken = token));
  session.on("limit", (limit) => {
    harness.limitNames = limit.leases.map((lease) => lease.device_name);
    harness.terminate = (leaseId) => limit.terminate([leaseId]);
  });
}

const players = {
  async videojs() {
    registerStreamlease(window.videojs);
    const player = window.videojs(video, { muted: true, loop: true });
    for (const name of ["streamlease:granted", "streamlease:limit", "streamlease:ended", "streamlease:released"]) {
      player.on(name, () => harness.playerEvents.push(name));
    }
    const behindEdge = params.get("edge") !== null;
    if (!behindEdge) player.src({ src: source, type: "application/x-mpegURL" });
    const session = player.streamlease(options);
    watch(session);
    // Behind the edge, video.js' requests cannot wait for a token (its
    // request hooks are synchronous): the lease comes first, then the source.
    if (behindEdge) {
      await session.start();
      player.src({ src: source, type: "application/x-mpegURL" });
    }
    return {
      play: () => player.play(),
      switchTo: (url) => {
        player.src({ src: url, type: "application/x-mpegURL" });
        return player.play();
      },
      // What a video.js app does after a media error: the same source again.
      recover: () => {
        player.src(player.currentSource());
        return player.play();
      },
      dispose: () => player.dispose(),
    };
  },
  hlsjs() {
    const hls = new window.Hls();
    hls.on(window.Hls.Events.ERROR, (_event, data) => harness.mediaErrors.push(data.response?.code ?? data.details));
    hls.attachMedia(video);
    // ?lease=off: the player alone, as a player that never asks for a lease.
    if (params.get("lease") !== "off") {
      const session = new LeaseSession(options);
      watch(session);
      // Behind the edge (?edge=1), media waits for the lease's token.
      attachHls(hls, session, { leaseToken: params.get("edge") ? "require" : "attach" });
    }
    hls.loadSource(source);
    return {
      play: () => video.play(),
      switchTo: (url) => {
        hls.loadSource(url);
        return video.play();
      },
      // hls.js' documented way out of a media error.
      recover: () => {
        hls.recoverMediaError();
        return video.play();
      },
      dispose: () => hls.destroy(),
    };
  },
  async shaka() {
    window.shaka.polyfill.installAll();
    const player = new window.shaka.Player();
    await player.attach(video);
    const session = new LeaseSession(options);
    watch(session);
    // Behind the edge (?edge=1), media waits for the lease's token; `load`
    // resolves only once the manifest came, so the lease comes first.
    attachShaka(player, session, { leaseToken: params.get("edge") ? "require" : "attach" });
    if (params.get("edge")) await session.start();
    await player.load(source);
    return {
      play: () => video.play(),
      switchTo: async (url) => {
        await player.load(url);
        return video.play();
      },
      // Loading the same asset again where it was: a Shaka app's recovery.
      recover: async () => {
        await player.load(player.getAssetUri(), video.currentTime);
        return video.play();
      },
      dispose: () => player.destroy(),
    };
  },
};

const controls = await players[params.get("player")]();
Object.assign(harness, controls);
harness.ready = true;
await Promise.resolve(controls.play()).catch(() => {});
