// What the browser scripts share: the line protocol with the Rust harness,
// Chromium's launch, polling with a deadline, and assertions.

import { existsSync } from "node:fs";
import { createInterface } from "node:readline";

import { type Browser, chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** The harness's next line on stdin. */
export async function readLine(): Promise<string> {
  const next = await input.next();
  if (next.done) throw new Error("the harness closed stdin");
  return next.value;
}

export function step(text: string) {
  console.error(`browser test: ${text}`);
}

/** Debian's Chromium, headless, without the background traffic a closed network refuses. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found; this test needs Debian's Chromium: sudo apt-get install chromium (or set CHROMIUM=/path/to/chromium)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/** Polls `probe` until it returns a value, or fails after `ms` naming `what`. */
export async function eventually<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function assertEqual<T>(actual: T, expected: T, what: string) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Runs the script's `main`, then says `passed` (or why not) and exits. */
export function run(main: () => Promise<void>) {
  main().then(
    () => {
      console.log("passed");
      process.exit(0);
    },
    (error) => {
      console.error(`browser test failed: ${error instanceof Error ? error.stack : error}`);
      process.exit(1);
    },
  );
}
