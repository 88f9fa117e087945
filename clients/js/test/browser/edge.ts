// Lease tokens at the edge, in headless Chromium: a real player (hls.js,
// Shaka Player or video.js: `node build/test/browser/edge.js shaka`) with
// the package's adapter plays HLS through the service's nginx edge
// (deploy/edge/) only with a lease; hls.js without one is refused; and once
// the lease is terminated from elsewhere, the edge refuses even a player
// that ignores the service and keeps sending its last token, within that
// token's lifetime.
//
// The Rust test `edge.rs` runs this and owns the service (lease tokens on,
// TTL 6 s) and the edge. This script prints `page <origin>` once its page
// server listens, reads back one JSON line (`Harness`), and prints `passed`.

import type { Page } from "playwright-core";

import { PACKAGE_ROOT, serveStatic } from "../../scripts/serve-demo.js";
import { assertEqual, eventually, launchChromium, readLine, run, step } from "./support.js";

interface Harness {
  service: string;
  edge: string;
  ttl_ms: number;
}

interface PageHarness {
  ready?: boolean;
  state: string;
  leaseId: string | null;
  leaseToken: string | null;
  mediaErrors: Array<number | string>;
  position(): number;
  paused(): boolean;
  probe(url: string, token: string | null): Promise<number>;
}

declare const harness: PageHarness;

const pageReady = () => (globalThis as { harness?: PageHarness }).harness?.ready === true;

const PLAYER = process.argv[2] ?? "hlsjs";

async function main() {
  const { server, origin } = await serveStatic(PACKAGE_ROOT, 0);
  console.log(`page ${origin}`);
  const { service, edge, ttl_ms } = JSON.parse(await readLine()) as Harness;
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const user = `edge-viewer-${PLAYER}`;
    const source = `${edge}/media/episode-1/master.m3u8`;
    const segment = `${edge}/media/episode-1/seg00.m4s`;
    const open = async (player: string, device: string, lease: "on" | "off"): Promise<Page> => {
      const page = await context.newPage();
      const query = new URLSearchParams({ player, service, user, device, stream: "episode-1", source, lease, edge: "1" });
      await page.goto(`${origin}/test/players/?${query}`);
      await page.waitForFunction(pageReady, null, { timeout: 15_000 });
      return page;
    };
    const read = <T>(page: Page, probe: () => T): Promise<T> => page.evaluate(probe);

    step(`${PLAYER} with a lease plays through the edge`);
    const withLease = await open(PLAYER, "tab-a", "on");
    await eventually("tab A is active", 15_000, async () => (await read(withLease, () => harness.state)) === "active");
    const start = await read(withLease, () => harness.position());
    await eventually("tab A plays", 15_000, async () => {
      const now = await read(withLease, () => ({ at: harness.position(), paused: harness.paused() }));
      return !now.paused && now.at > start;
    }).catch(async (error) => {
      const seen = await read(withLease, () => ({ errors: harness.mediaErrors, token: harness.leaseToken }));
      throw new Error(`${error.message}; the player saw ${JSON.stringify(seen)}`);
    });
    const token = await read(withLease, () => harness.leaseToken);
    if (!token) throw new Error("tab A holds no lease token");
    assertEqual(await withLease.evaluate(([url, t]) => harness.probe(url!, t!), [segment, token]), 200, "its token opens a segment");

    step("hls.js without a lease is refused by the edge and never plays");
    const without = await open("hlsjs", "tab-b", "off");
    await eventually("tab B's playlist is refused (403)", 10_000, async () =>
      (await read(without, () => harness.mediaErrors)).includes(403),
    );
    assertEqual(await read(without, () => harness.position()), 0, "tab B never played");

    step("tab A's lease is terminated from elsewhere: its last token stops opening segments within its lifetime");
    const leaseA = await read(withLease, () => harness.leaseId);
    const held = (await read(withLease, () => harness.leaseToken))!;
    const terminate = await fetch(`${service}/v1/users/${user}/leases`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stream_id: "episode-1", device_id: "tab-c", terminate: [leaseA] }),
    });
    assertEqual(terminate.status, 201, "the other device takes the slot");
    const terminatedAt = Date.now();
    await eventually("the edge refuses tab A's last token", ttl_ms + 2_000, async () =>
      (await withLease.evaluate(([url, t]) => harness.probe(url!, t!), [segment, held])) === 403,
    );
    const refusedAfter = Date.now() - terminatedAt;
    step(`refused ${refusedAfter} ms after the termination (token lifetime ${ttl_ms} ms)`);
    if (refusedAfter > ttl_ms + 500) throw new Error(`refused only after ${refusedAfter} ms`);
    await eventually("tab A's session ended and dropped its token", ttl_ms, async () => {
      const now = await read(withLease, () => ({ state: harness.state, token: harness.leaseToken }));
      return now.state === "ended" && now.token === null;
    });
    await context.close();
  } finally {
    await browser.close();
    server.close();
  }
}

run(main);
