// Builds `dist/` for the package (`npm run build`, and `prepack` before
// `npm pack`):
//   dist/esm/     ES modules with types and source maps (`import`)
//   dist/cjs/     CommonJS with types and source maps (`require`)
//   dist/streamlease.iife.js   one file for a <script> tag, global `streamlease`
// All of it ES2017, the syntax smart-TV browsers run. The maps point into
// `src/`, which the package ships.

import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(join(root, "dist"), { recursive: true, force: true });
for (const config of ["tsconfig.json", "tsconfig.cjs.json"]) {
  execFileSync(process.execPath, [tsc, "-p", join(root, config)], { stdio: "inherit" });
}
// The package is "type": "module"; this folder's .js files are CommonJS.
writeFileSync(join(root, "dist/cjs/package.json"), '{ "type": "commonjs" }\n');
mkdirSync(join(root, "dist"), { recursive: true });
await build({
  entryPoints: [join(root, "src/bundle.ts")],
  outfile: join(root, "dist/streamlease.iife.js"),
  bundle: true,
  format: "iife",
  globalName: "streamlease",
  target: "es2017",
  sourcemap: true,
  logLevel: "warning",
});
