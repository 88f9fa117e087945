// The demo player in real headless Chromium, four tabs of one user against a
// real service on another origin (CORS on, player JWTs on).
//
// The Rust test `browser.rs` runs this and owns the service and Redis; they
// talk in lines. This script prints `page <origin>` once its page server
// listens; it reads back one JSON line (`Harness`), and, in the Redis-backed
// run, prints `redis stop` and waits for `redis started` after the outage.

import { createHmac } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

import type { Browser, Page } from "playwright-core";

import { PACKAGE_ROOT, serveStatic } from "../../scripts/serve-demo.js";
import { assertEqual, eventually, launchChromium, readLine, run, step } from "./support.js";

interface Harness {
  service: string;
  jwtSecret: string;
  /** A Redis-backed service the harness can stop on request. */
  redis: boolean;
  artifacts: string;
  ttlMs: number;
}

interface ListedLease {
  lease_id: string;
  device_id: string | null;
}

const USER = "alice";

function jwt(secret: string, sub: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

async function main() {
  const { server, origin } = await serveStatic(PACKAGE_ROOT, 0);
  console.log(`page ${origin}`);
  const harness = JSON.parse(await readLine()) as Harness;
  const token = jwt(harness.jwtSecret, USER);
  const browser = await launchChromium();
  try {
    await scenario(browser, origin, harness, token);
  } finally {
    await browser.close();
    server.close();
  }
}

async function scenario(browser: Browser, origin: string, harness: Harness, token: string) {
  const context = await browser.newContext();
  const pageErrors: string[] = [];
  const listLeases = async (): Promise<ListedLease[]> => {
    const answer = await fetch(`${harness.service}/v1/users/${USER}/leases`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!answer.ok) throw new Error(`GET leases: ${answer.status} ${await answer.text()}`);
    return ((await answer.json()) as { leases: ListedLease[] }).leases;
  };
  const open = async (tab: number): Promise<Page> => {
    const page = await context.newPage();
    page.on("pageerror", (error) => pageErrors.push(`tab ${tab}: ${error.message}`));
    const query = new URLSearchParams({
      service: harness.service,
      user: USER,
      stream: `movie-${tab}`,
      device: `tab-${tab}`,
      token,
      autoplay: "1",
    });
    await page.goto(`${origin}/demo/?${query}`);
    return page;
  };
  const leaseOf = (page: Page) => page.locator("body").getAttribute("data-lease-id");
  const statusOf = (page: Page) => page.locator("#status").textContent();
  const playback = (page: Page) =>
    page.evaluate(() => {
      const video = document.querySelector("video")!;
      // Frames shown so far: it keeps growing while the clip loops.
      return { frames: video.getVideoPlaybackQuality().totalVideoFrames, paused: video.paused };
    });
  /** Playback moves on: the player really plays (the clip has 15 frames a second). */
  const assertPlaying = async (page: Page, tab: number) => {
    const before = (await playback(page)).frames;
    await eventually(`tab ${tab} plays`, 5_000, async () => {
      const now = await playback(page);
      return !now.paused && now.frames > before + 3;
    });
  };

  step("tabs 1-3 each get a lease");
  const tabs: Page[] = [];
  const leaseIds: string[] = [];
  for (const n of [1, 2, 3]) {
    const page = await open(n);
    await page.locator('#status[data-state="active"]').waitFor({ timeout: 10_000 });
    await assertPlaying(page, n);
    tabs.push(page);
    leaseIds.push((await leaseOf(page))!);
  }
  const listed = await listLeases();
  assertEqual(listed.map((l) => l.lease_id), leaseIds, "GET leases lists the three tabs' leases");

  step("tab 4 is shown the limit chooser");
  const tab4 = await open(4);
  await tab4.locator("#chooser[open]").waitFor({ timeout: 10_000 });
  await mkdir(harness.artifacts, { recursive: true });
  const screenshot = join(harness.artifacts, `limit-chooser${harness.redis ? "-redis" : ""}.png`);
  await tab4.screenshot({ path: screenshot });
  step(`screenshot of the chooser: ${screenshot}`);
  assertEqual(await tab4.locator("#chooser-leases button").count(), 3, "the chooser offers the three leases");
  assertEqual(await tab4.locator("#status").getAttribute("data-state"), "limit", "tab 4 is at the limit");

  step("choosing tab 1's lease ends tab 1 and tab 4 plays");
  await tab4.locator(`#chooser-leases button[data-lease-id="${leaseIds[0]}"]`).click();
  await tab4.locator('#status[data-state="active"]').waitFor({ timeout: 10_000 });
  await assertPlaying(tab4, 4);
  const tab1 = tabs[0]!;
  await tab1.locator('#status[data-state="ended"]').waitFor({ timeout: 10_000 });
  assertEqual(await statusOf(tab1), "ended: terminated", "tab 1 tells why it stopped");
  assertEqual((await playback(tab1)).paused, true, "tab 1's player stopped");
  let lease4 = (await leaseOf(tab4))!;
  assertEqual(
    (await listLeases()).map((l) => l.lease_id).sort(),
    [leaseIds[1]!, leaseIds[2]!, lease4].sort(),
    "tab 1's lease is gone and tab 4's is live",
  );

  step("a new source on tab 4's element (emptied releases, play acquires at once) leaves it a lease");
  // The release's DELETE needs a CORS preflight of its own and the acquire's
  // is cached, so the acquire may land first and the late release end the
  // lease it was given back, unless the session waits for the release.
  // A release slower than the acquire, every time rather than by chance.
  const leasesUrl = `${harness.service}/v1/users/${USER}/leases/*`;
  await tab4.route(leasesUrl, async (route) => {
    if (route.request().method() === "DELETE") await new Promise((resolve) => setTimeout(resolve, 300));
    await route.continue();
  });
  await tab4.evaluate(() => {
    const video = document.querySelector("video")!;
    video.src = video.getAttribute("src")!;
    void video.play();
  });
  await eventually("tab 4 holds a lease again", 5_000, async () => {
    const id = await leaseOf(tab4);
    return id !== null && id !== lease4 && (await statusOf(tab4))?.startsWith("playing");
  });
  // Two heartbeats later it still holds it.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  await tab4.unroute(leasesUrl);
  assertEqual(await tab4.locator("#status").getAttribute("data-state"), "active", "tab 4 is still active");
  lease4 = (await leaseOf(tab4))!;
  if (!(await listLeases()).some((l) => l.lease_id === lease4)) throw new Error("tab 4's new lease was released");
  await assertPlaying(tab4, 4);

  step("closing tab 2 releases its lease by beacon");
  const closedAt = Date.now();
  await tabs[1]!.close();
  await eventually("tab 2's lease is released", 1_000, async () =>
    (await listLeases()).every((l) => l.lease_id !== leaseIds[1]),
  );
  step(`tab 2's lease was gone ${Date.now() - closedAt} ms after the tab closed (TTL ${harness.ttlMs} ms)`);

  if (harness.redis) {
    const tab3 = tabs[2]!;
    const players = [
      { page: tab3, n: 3 },
      { page: tab4, n: 4 },
    ];
    const renewals = async (page: Page) => Number((await page.locator("body").getAttribute("data-renewed")) ?? 0);
    const unavailable = async (page: Page) =>
      Number((await page.locator("body").getAttribute("data-unavailable")) ?? 0);
    step("Redis stops for 3 s: the players keep playing");
    console.log("redis stop");
    assertEqual(await readLine(), "redis stopped", "the harness stopped Redis");
    const outage = await Promise.all(players.map(async ({ page }) => (await playback(page)).frames));
    assertEqual(await readLine(), "redis started", "the harness started Redis again");
    for (const [i, { page, n }] of players.entries()) {
      const now = await playback(page);
      // 3 s at 15 frames a second; at least a second's worth is asked.
      if (now.paused || now.frames < outage[i]! + 15) {
        throw new Error(`tab ${n} did not keep playing through the outage: ${JSON.stringify(now)}`);
      }
      if ((await unavailable(page)) === 0) throw new Error(`tab ${n} never heard that the store was down`);
      assertEqual(await page.locator("#status").getAttribute("data-state"), "active", `tab ${n} stays active`);
    }
    step("heartbeats resume, and restore the leases the empty Redis forgot");
    const before = await Promise.all(players.map(({ page }) => renewals(page)));
    for (const [i, { page, n }] of players.entries()) {
      await eventually(`tab ${n} heartbeats again`, 10_000, async () => (await renewals(page)) > before[i]!);
      await assertPlaying(page, n);
    }
    await eventually("both leases are back in Redis", 5_000, async () => {
      const live = (await listLeases()).map((l) => l.lease_id).sort();
      return JSON.stringify(live) === JSON.stringify([leaseIds[2]!, lease4].sort());
    });
  }
  if (pageErrors.length > 0) throw new Error(`errors in the pages:\n${pageErrors.join("\n")}`);
  await context.close();
}

run(main);
