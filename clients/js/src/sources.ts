// The adapters move the lease along with the player's source: the next
// episode keeps the slot (`LeaseSession.switchStream`).

import type { LeaseSession } from "./session.js";

/** Names the stream a source URL plays. */
export type StreamIdOf = (sourceUrl: string) => string;

/** The default name: the URL's host and path in the id alphabet
 * (`A-Z a-z 0-9 - _ . : @`), its last 128 characters. */
export function streamIdFromUrl(url: string): string {
  let path = url;
  try {
    const parsed = new URL(url, globalThis.location?.href);
    path = parsed.host + parsed.pathname;
  } catch {
    // Not a URL the platform parses: use it as it is.
  }
  const id = path.replace(/[^A-Za-z0-9._:@-]+/g, "_").replace(/^_+|_+$/g, "").slice(-128);
  return id && !/^\.+$/.test(id) ? id : "stream";
}

/**
 * What to call when the player loads a source. The first source is the
 * stream the session was made for (unless `streamIdOf` is given, which
 * then names every source); each different one after it moves the lease.
 * The same source again (a reload to recover from an error) changes nothing.
 */
export function followSources(session: LeaseSession, streamIdOf?: StreamIdOf): (url: string | null | undefined) => void {
  let current: string | null = null;
  return (url) => {
    if (!url || url === current) return;
    const first = current === null;
    current = url;
    if (first && !streamIdOf) return;
    void session.switchStream((streamIdOf ?? streamIdFromUrl)(url));
  };
}
