// The demo player: a <video> whose lease state is shown beside it, and the
// "too many devices" chooser at the limit. Settings come from the URL:
// ?service=http://127.0.0.1:8080&user=alice&stream=movie-1&device=tv&name=Living-room%20TV&token=JWT&autoplay=1

import { LeaseSession, attachMedia, tabDeviceId } from "../dist/esm/index.js";

const params = new URLSearchParams(location.search);
const service = params.get("service") ?? "http://127.0.0.1:8080";
const userId = params.get("user") ?? "demo-user";
const streamId = params.get("stream") ?? "big-movie";
const deviceId = params.get("device") ?? tabDeviceId("streamlease-demo-device");
const deviceName = params.get("name") ?? `Demo player (${deviceId})`;
const token = params.get("token");

const video = document.getElementById("player");
const status = document.getElementById("status");
const detail = document.getElementById("detail");
const chooser = document.getElementById("chooser");

document.getElementById("who").textContent = `${userId} on ${deviceName}, watching ${streamId}, via ${service}`;

const session = new LeaseSession({
  baseUrl: service,
  userId,
  streamId,
  deviceId,
  deviceName,
  getToken: token ? () => token : undefined,
  idleTimeoutMs: Number(params.get("idle_ms") ?? 300_000),
});
attachMedia(session, video);

// Counters a test (or a curious developer) can read off the page.
const counts = { renewed: 0, granted: 0, unavailable: 0 };
function count(name) {
  counts[name] += 1;
  document.body.dataset[name] = String(counts[name]);
}

function show(state, text, extra = "") {
  status.dataset.state = state;
  status.classList.toggle("unavailable", false);
  status.textContent = text;
  detail.textContent = extra;
}

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  document.getElementById("log").prepend(item);
}

function leaseText(lease) {
  const count = lease.active === undefined ? "" : `, ${lease.active} of ${lease.limit} streams`;
  return `lease ${lease.lease_id}${count}`;
}

session.on("state", ({ state, previous }) => log(`state ${previous} → ${state}`));

session.on("granted", ({ lease, restored }) => {
  count("granted");
  document.body.dataset.leaseId = lease.lease_id;
  show("active", restored ? "playing (lease restored)" : "playing", leaseText(lease));
  log(`${restored ? "restored" : "granted"} ${lease.lease_id}`);
  if (chooser.open) chooser.close();
});

session.on("renewed", ({ lease }) => {
  count("renewed");
  show("active", "playing", leaseText(lease));
});

session.on("degraded", ({ lease }) => {
  show("active", "playing (limit not checked: the service is degraded)", leaseText(lease));
  log("degraded answer");
});

session.on("unavailable", ({ code, retryInMs }) => {
  count("unavailable");
  status.classList.toggle("unavailable", true);
  status.textContent = `playing; the lease service is unavailable (${code}), retrying in ${(retryInMs / 1000).toFixed(1)} s`;
  log(`unavailable: ${code}, retry in ${retryInMs} ms`);
});

session.on("ended", ({ reason, byLeaseId }) => {
  delete document.body.dataset.leaseId;
  show("ended", `ended: ${reason}`, byLeaseId ? `another stream took the slot (lease ${byLeaseId})` : "");
  log(`ended: ${reason}`);
});

session.on("released", ({ cause }) => {
  delete document.body.dataset.leaseId;
  show("stopped", `released (${cause})`, "press play to watch again");
});

session.on("error", ({ error }) => {
  show("failed", `error: ${error.code}`, error.message);
  log(`error ${error.status}: ${error.code}`);
});

// "streams", or "uhd streams" when a class limit refused (a plan's 4K limit).
const streamsOf = (limit) => (limit.limitClass === "total" ? "streams" : `${limit.limitClass} streams`);

session.on("limit", (limit) => {
  show("limit", "too many devices", `${limit.active} of ${limit.limit} ${streamsOf(limit)} are playing`);
  log(`limit reached: ${limit.active} of ${limit.limit} ${streamsOf(limit)}`);
  openChooser(limit);
});

function openChooser(limit) {
  document.getElementById("chooser-summary").textContent =
    `Your plan allows ${limit.limit} ${streamsOf(limit)} at once, and ${limit.active} are playing.`;
  const list = document.getElementById("chooser-leases");
  list.replaceChildren(
    ...limit.leases.map((lease) => {
      const item = document.createElement("li");
      const since = new Date(lease.acquired_at).toLocaleTimeString();
      const label = document.createElement("span");
      // Names are the viewers' free text: shown as text, never as HTML.
      label.textContent = `${lease.device_name ?? lease.device_id ?? "a device"}: ${lease.stream_id}, since ${since}`;
      const stop = document.createElement("button");
      stop.type = "button";
      stop.textContent = "Stop it";
      stop.dataset.leaseId = lease.lease_id;
      stop.addEventListener("click", () => {
        chooser.close();
        void limit.terminate([lease.lease_id]);
      });
      item.append(label, stop);
      return item;
    }),
  );
  if (!chooser.open) chooser.showModal();
}

if (params.get("autoplay") === "1") {
  video.play().catch((error) => log(`autoplay refused: ${error.message}; press play`));
}
