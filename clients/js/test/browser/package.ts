// The package as a project gets it: `npm pack` (which builds `dist/` first),
// the tarball installed into a new project, then used three ways: `import`
// and `require` in Node.js, with each subpath, and the <script> bundle in
// headless Chromium. On the way it checks what a publishable browser
// library promises: types that resolve through `exports`, ES2017 syntax,
// source maps whose sources are inside the package, `sideEffects: false`,
// no `engines` pin.
//
// The Rust test `js_client.rs` runs it; it prints `passed` at the end.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";

import { parse } from "acorn";

import { PACKAGE_ROOT, serveStatic } from "../../scripts/serve-demo.js";
import { assertEqual, launchChromium, run, step } from "./support.js";

const NAME = "@streamlease/client";

function sh(cwd: string, command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`\`${command} ${args.join(" ")}\` in ${cwd} failed:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "streamlease-pack-"));
  try {
    await check(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function check(work: string) {
  // `prepack` builds dist/, which the harness (js_client.rs) built already.
  step("npm pack");
  const pack = ["pack", "--json", "--ignore-scripts", "--pack-destination", work];
  const packed = JSON.parse(sh(PACKAGE_ROOT, "npm", pack)) as Array<{ filename: string }>;
  const tarball = join(work, packed[0]!.filename);

  step("installed into a new project");
  const project = join(work, "project");
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, version: "1.0.0" }));
  sh(project, "npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball]);
  const installed = join(project, "node_modules", NAME);
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  assertEqual(manifest.sideEffects, false, "sideEffects");
  assertEqual(manifest.engines, undefined, "no engines pin on a browser library");
  assertEqual(manifest.private, undefined, "publishable");

  step("every script parses as ES2017, and every source map resolves inside the package");
  const files = filesUnder(join(installed, "dist"));
  for (const file of files.filter((f) => f.endsWith(".js"))) {
    const sourceType = file.includes("/dist/esm/") ? "module" : "script";
    try {
      parse(readFileSync(file, "utf8"), { ecmaVersion: 2017, sourceType });
    } catch (error) {
      throw new Error(`${relative(installed, file)} is not ES2017: ${error}`);
    }
  }
  const maps = files.filter((f) => f.endsWith(".map"));
  if (maps.length < 10) throw new Error(`expected source maps, found ${maps.length}`);
  for (const map of maps) {
    const { sources, sourceRoot } = JSON.parse(readFileSync(map, "utf8")) as { sources: string[]; sourceRoot?: string };
    for (const source of sources) {
      const at = resolve(dirname(map), sourceRoot ?? "", source);
      if (!at.startsWith(installed + "/") || !existsSync(at)) {
        throw new Error(`${relative(installed, map)} names ${source}, which is not in the package`);
      }
    }
  }

  step("import, with each subpath");
  writeFileSync(
    join(project, "esm.mjs"),
    `import { LeaseSession, attachMedia, tabDeviceId } from "${NAME}";
import { attachHls } from "${NAME}/hlsjs";
import { attachShaka } from "${NAME}/shaka";
import { registerStreamlease } from "${NAME}/videojs";
const session = new LeaseSession({ baseUrl: "https://l.example", userId: "u", streamId: "s", pageEvents: null });
console.log(JSON.stringify([session.state, typeof attachMedia, typeof tabDeviceId, typeof attachHls, typeof attachShaka, typeof registerStreamlease]));
`,
  );
  const expected = JSON.stringify(["idle", "function", "function", "function", "function", "function"]);
  assertEqual(sh(project, process.execPath, ["esm.mjs"]).trim(), expected, "what import gives");

  step("require, with each subpath");
  writeFileSync(
    join(project, "cjs.cjs"),
    `const { LeaseSession, attachMedia, tabDeviceId } = require("${NAME}");
const { attachHls } = require("${NAME}/hlsjs");
const { attachShaka } = require("${NAME}/shaka");
const { registerStreamlease } = require("${NAME}/videojs");
const session = new LeaseSession({ baseUrl: "https://l.example", userId: "u", streamId: "s", pageEvents: null });
console.log(JSON.stringify([session.state, typeof attachMedia, typeof tabDeviceId, typeof attachHls, typeof attachShaka, typeof registerStreamlease]));
`,
  );
  assertEqual(sh(project, process.execPath, ["cjs.cjs"]).trim(), expected, "what require gives");

  step("TypeScript finds the types of each subpath");
  writeFileSync(
    join(project, "consumer.ts"),
    `import { LeaseSession, type Lease } from "${NAME}";
import { attachHls, type HlsLike } from "${NAME}/hlsjs";
import { attachShaka } from "${NAME}/shaka";
import { registerStreamlease } from "${NAME}/videojs";
declare const hls: HlsLike;
const session = new LeaseSession({ baseUrl: "https://l.example", userId: "u", streamId: "s" });
const lease: Lease | null = session.lease;
attachHls(hls, session);
export { attachShaka, lease, registerStreamlease };
`,
  );
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  for (const resolution of ["nodenext", "bundler"]) {
    const module = resolution === "nodenext" ? "nodenext" : "esnext";
    sh(project, process.execPath, [tsc, "--noEmit", "--strict", "--module", module, "--moduleResolution", resolution, "--lib", "es2020,dom", "consumer.ts"]);
  }

  step("the <script> bundle in Chromium");
  writeFileSync(
    join(project, "page.html"),
    `<!doctype html><meta charset="utf-8"><script src="node_modules/${NAME}/dist/streamlease.iife.js"></script>`,
  );
  const { server, origin } = await serveStatic(project, 0);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${origin}/page.html`);
    const globals = await page.evaluate(() => {
      const lib = (window as unknown as { streamlease: Record<string, unknown> }).streamlease;
      const session = new (lib.LeaseSession as new (o: object) => { state: string })({ baseUrl: "https://l.example", userId: "u", streamId: "s" });
      return [session.state, ...["attachMedia", "attachHls", "attachShaka", "registerStreamlease", "tabDeviceId"].map((n) => typeof lib[n])];
    });
    assertEqual(globals, ["idle", "function", "function", "function", "function", "function"], "window.streamlease");
    if (errors.length > 0) throw new Error(`errors in the page: ${errors.join("; ")}`);
  } finally {
    await browser.close();
    server.close();
  }
}

run(main);
