// The package's adapters in real players from npm (video.js, hls.js, Shaka
// Player) in headless Chromium, against a real service on another origin,
// playing the HLS episodes in test/media/. One player per run:
// `node build/test/browser/players.js hlsjs`.
//
// The Rust test `players.rs` runs this and owns the service (limit 3). This
// script prints `page <origin>` once its page server listens, reads back one
// JSON line (`Harness`), and prints `passed` at the end.

import type { BrowserContext, Page } from "playwright-core";

import { PACKAGE_ROOT, serveStatic } from "../../scripts/serve-demo.js";
import { assertEqual, eventually, launchChromium, readLine, run, step } from "./support.js";

interface Harness {
  service: string;
}

interface ListedLease {
  lease_id: string;
  stream_id: string;
  device_id: string | null;
  device_name: string | null;
}

/** What `test/players/player.js` puts on `window.harness`. */
interface PageHarness {
  ready?: boolean;
  state: string;
  leaseId: string | null;
  ended: string | null;
  limitNames: Array<string | null> | null;
  playerEvents: string[];
  terminate(leaseId: string): Promise<void>;
  position(): number;
  paused(): boolean;
  switchTo(url: string): Promise<void>;
  recover(): Promise<void>;
  dispose(): Promise<void> | void;
  session: { deviceId: string };
}

declare const harness: PageHarness;

/** The page's harness is there and its player set up (the page may still be loading). */
const pageReady = () => (globalThis as { harness?: PageHarness }).harness?.ready === true;

const PLAYER = process.argv[2] ?? "";
const EPISODE_1 = "/test/media/episode-1/master.m3u8";
const EPISODE_2 = "/test/media/episode-2/master.m3u8";

async function main() {
  if (!["videojs", "hlsjs", "shaka"].includes(PLAYER)) throw new Error(`which player? got ${JSON.stringify(PLAYER)}`);
  const { server, origin } = await serveStatic(PACKAGE_ROOT, 0);
  console.log(`page ${origin}`);
  const { service } = JSON.parse(await readLine()) as Harness;
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    await scenario(context, origin, service);
    await context.close();
  } finally {
    await browser.close();
    server.close();
  }
}

async function scenario(context: BrowserContext, origin: string, service: string) {
  const user = `viewer-${PLAYER}`;
  const pageErrors: string[] = [];
  const watchErrors = (page: Page, name: string) => page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
  const listLeases = async (): Promise<ListedLease[]> => {
    const answer = await fetch(`${service}/v1/users/${user}/leases`);
    if (!answer.ok) throw new Error(`GET leases: ${answer.status} ${await answer.text()}`);
    return ((await answer.json()) as { leases: ListedLease[] }).leases;
  };
  const open = async (tab: number): Promise<Page> => {
    const page = await context.newPage();
    watchErrors(page, `tab ${tab}`);
    const query = new URLSearchParams({
      player: PLAYER,
      service,
      user,
      device: `tab-${tab}`,
      name: `Tab ${tab}`,
      source: EPISODE_1,
    });
    await page.goto(`${origin}/test/players/?${query}`);
    await page.waitForFunction(pageReady, null, { timeout: 15_000 });
    return page;
  };
  const read = <T>(page: Page, probe: () => T): Promise<T> => page.evaluate(probe);
  const stateOf = (page: Page) => read(page, () => harness.state);
  const leaseOf = (page: Page) => read(page, () => harness.leaseId);
  const waitForState = (page: Page, name: string, state: string) =>
    eventually(`${name} is ${state}`, 15_000, async () => (await stateOf(page)) === state);
  /** The player really plays: its position moves on. */
  const assertPlaying = async (page: Page, name: string) => {
    const before = await read(page, () => harness.position());
    await eventually(`${name} plays`, 10_000, async () => {
      const now = await read(page, () => ({ at: harness.position(), paused: harness.paused() }));
      return !now.paused && now.at !== before;
    });
  };

  step(`${PLAYER}: tabs 1-3 each get a lease and play`);
  const tabs: Page[] = [];
  for (const n of [1, 2, 3]) {
    const page = await open(n);
    await waitForState(page, `tab ${n}`, "active");
    await assertPlaying(page, `tab ${n}`);
    tabs.push(page);
  }
  const [tab1, tab2, tab3] = tabs as [Page, Page, Page];
  const leases = await Promise.all(tabs.map(leaseOf));
  assertEqual((await listLeases()).map((l) => l.lease_id), leases, "the service lists the three tabs' leases");

  step(`${PLAYER}: tab 4 is refused and offered the chooser by device name`);
  const tab4 = await open(4);
  await waitForState(tab4, "tab 4", "limit");
  assertEqual(await read(tab4, () => harness.limitNames), ["Tab 1", "Tab 2", "Tab 3"], "the chooser names the devices");
  await eventually("tab 4's player is paused", 5_000, () => read(tab4, () => harness.paused()));

  step(`${PLAYER}: stopping tab 1 from tab 4 pauses tab 1 with the reason, and tab 4 plays`);
  await tab4.evaluate((id) => harness.terminate(id), leases[0]!);
  await waitForState(tab4, "tab 4", "active");
  await assertPlaying(tab4, "tab 4");
  await waitForState(tab1, "tab 1", "ended");
  assertEqual(await read(tab1, () => harness.ended), "terminated", "tab 1 knows why it stopped");
  await eventually("tab 1's player is paused", 5_000, () => read(tab1, () => harness.paused()));
  if (PLAYER === "videojs") {
    const heard = await read(tab1, () => harness.playerEvents);
    if (!heard.includes("streamlease:ended")) throw new Error(`the video.js player did not re-emit ended: ${heard}`);
  }
  const lease4 = (await leaseOf(tab4))!;

  step(`${PLAYER}: a duplicate of tab 3 (same URL, same sessionStorage) never makes a fourth player play`);
  const [copy] = await Promise.all([
    context.waitForEvent("page"),
    tab3.evaluate(() => void window.open(location.href)),
  ]);
  watchErrors(copy, "the copy of tab 3");
  await copy.waitForFunction(pageReady, null, { timeout: 15_000 });
  await waitForState(copy, "the copy", "limit");
  await eventually("the copy's player is paused", 5_000, () => read(copy, () => harness.paused()));
  const copyDevice = await read(copy, () => harness.session.deviceId);
  if (copyDevice === "tab-3") throw new Error("the copy sent the original's device id");
  assertEqual(
    (await listLeases()).map((l) => l.lease_id).sort(),
    [leases[1]!, leases[2]!, lease4].sort(),
    "still the same three leases",
  );
  await copy.close();
  // Closing the copy sends its pagehide beacon: it must not take tab 3's lease.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assertEqual(await stateOf(tab3), "active", "tab 3 plays on after its copy closed");
  if (!(await listLeases()).some((l) => l.lease_id === leases[2])) throw new Error("closing the copy released tab 3's lease");
  await assertPlaying(tab3, "tab 3");

  step(`${PLAYER}: closing tab 2 frees its slot by beacon`);
  const closedAt = Date.now();
  await tab2.close();
  await eventually("tab 2's lease is released", 2_000, async () => (await listLeases()).every((l) => l.lease_id !== leases[1]));
  step(`tab 2's lease was gone ${Date.now() - closedAt} ms after the tab closed`);

  step(`${PLAYER}: the next episode keeps tab 3's lease`);
  await tab3.evaluate((url) => harness.switchTo(url), EPISODE_2);
  await eventually("the service moved tab 3's lease to episode 2", 10_000, async () => {
    const listed = (await listLeases()).find((l) => l.lease_id === leases[2]);
    return listed !== undefined && listed.stream_id !== "episode-1";
  });
  assertEqual(await leaseOf(tab3), leases[2]!, "tab 3 holds the same lease");
  await assertPlaying(tab3, "tab 3 on episode 2");
  assertEqual(await stateOf(tab3), "active", "tab 3 stays active");

  step(`${PLAYER}: recovering from a media error keeps the lease`);
  await tab3.evaluate(() => harness.recover());
  await assertPlaying(tab3, "tab 3 after recovery");
  assertEqual(await stateOf(tab3), "active", "tab 3 stays active through recovery");
  assertEqual(await leaseOf(tab3), leases[2]!, "tab 3 holds the same lease after recovery");
  // Heartbeats after the recovery still renew it.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  if (!(await listLeases()).some((l) => l.lease_id === leases[2])) throw new Error("the recovery lost tab 3's lease");

  step(`${PLAYER}: disposing the player releases its lease`);
  await tab4.evaluate(() => harness.dispose());
  await eventually("tab 4's lease is released", 2_000, async () => (await listLeases()).every((l) => l.lease_id !== lease4));
  assertEqual((await listLeases()).map((l) => l.lease_id), [leases[2]!], "only tab 3's lease is left");

  if (pageErrors.length > 0) throw new Error(`errors in the pages:\n${pageErrors.join("\n")}`);
}

run(main);
