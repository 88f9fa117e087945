// Serves this package's directory over HTTP on loopback, so the demo page
// (/demo/) can load the built library (/dist/). `npm run demo` runs it; the
// browser test uses `serveStatic` for its page origin.

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".json": "application/json",
  ".webm": "video/webm",
  ".m3u8": "application/vnd.apple.mpegurl",
  ".m4s": "video/iso.segment",
  ".mp4": "video/mp4",
  ".png": "image/png",
};

/** The package root: build/scripts/ → ../../ */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Serves `root` on 127.0.0.1:`port` (0: any free port); resolves to its origin. */
export async function serveStatic(root: string, port: number): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (request, response) => {
    try {
      const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
      let file = resolve(join(root, path));
      if (file !== root && !file.startsWith(root + sep)) return void response.writeHead(403).end();
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const size = (await stat(file)).size;
      response.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": size,
        "cache-control": "no-store",
      });
      if (request.method === "HEAD") return void response.end();
      createReadStream(file).pipe(response);
    } catch {
      // Not there, or a path that does not decode.
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((ready) => server.listen(port, "127.0.0.1", ready));
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return { server, origin: `http://127.0.0.1:${bound}` };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 8000);
  const { origin } = await serveStatic(PACKAGE_ROOT, port);
  console.log(`demo: ${origin}/demo/?service=http://127.0.0.1:8080&user=alice&autoplay=1`);
  console.log(`the service must allow this origin: STREAMLEASE_CORS_ORIGINS=${origin}`);
}
