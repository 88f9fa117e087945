// Media and license requests carry the session's lease token, so an edge
// or a license proxy that checks it (the service's deploy/edge/) serves
// only a player that holds a live lease. The adapters attach it; a player
// of your own can use `leaseTokenHeader`.

import type { LeaseSession, SessionState } from "./session.js";

/** The header the token travels in: `Authorization: Bearer <token>`. */
export const LEASE_TOKEN_HEADER = "Authorization";

/** The header's value for the session's current lease token; null while
 * it holds none (no lease, or lease tokens off). */
export function leaseTokenHeader(session: LeaseSession): string | null {
  const token = session.leaseToken;
  return token ? `Bearer ${token}` : null;
}

/** States in which the session has no lease yet but may get one. */
const BEFORE_A_LEASE: SessionState[] = ["idle", "stopped", "acquiring"];

/**
 * Resolves once a media request may go: when the session holds a lease
 * (with its token, or none when the service signs none), or can get none
 * (at the limit, ended, failed), so the edge answers. Before that (the
 * player loads its playlist before the viewer presses play), it waits: the
 * session acquires on play, and the request then carries the token rather
 * than being refused.
 */
export function leaseTokenReady(session: LeaseSession): Promise<void> {
  const ready = () => session.leaseToken !== null || !BEFORE_A_LEASE.includes(session.state);
  if (ready()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (!ready()) return;
      session.off("state", check);
      session.off("leaseToken", check);
      resolve();
    };
    session.on("state", check);
    session.on("leaseToken", check);
  });
}

export interface LeaseTokenOptions {
  /**
   * What media and license requests do with the lease token:
   * - `"attach"` (default): carry it whenever the session holds one.
   * - `"require"`: also wait for one while the session has no lease yet,
   *   for media behind a lease-token check (an edge that refuses requests
   *   without one). Loading then starts when playback does (the session
   *   acquires on play), so start playback, or `session.start()`, rather
   *   than waiting for the manifest to load first.
   * - `"off"`: never carry it.
   */
  leaseToken?: "attach" | "require" | "off";
}
