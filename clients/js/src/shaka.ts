// Shaka Player: `attachShaka(player, session)` drives a session from a
// `shaka.Player`. It follows the player's media element, moves the lease
// when `load()` loads another asset (the same asset again, as when
// recovering from an error, keeps it as it is), and disposes the session
// when the player is destroyed.

import { LEASE_TOKEN_HEADER, type LeaseTokenOptions, leaseTokenHeader, leaseTokenReady } from "./lease-token.js";
import { type MediaOptions, attachMedia } from "./media.js";
import type { LeaseSession } from "./session.js";
import { type StreamIdOf, followSources } from "./sources.js";

/** A Shaka request as a request filter sees it. */
export interface ShakaRequestLike {
  headers: Record<string, string>;
}

/** Shaka waits for a filter's promise before it sends the request. */
export type ShakaRequestFilter = (type: number, request: ShakaRequestLike) => void | Promise<void>;

/** What the adapter needs of a `shaka.Player` (Shaka Player 4 and 5). */
export interface ShakaPlayerLike {
  getMediaElement(): HTMLMediaElement | null;
  getNetworkingEngine?(): {
    registerRequestFilter(filter: ShakaRequestFilter): void;
    unregisterRequestFilter(filter: ShakaRequestFilter): void;
  } | null;
  getAssetUri(): string | null;
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
  destroy(): Promise<void>;
}

/** `shaka.net.NetworkingEngine.RequestType`: MANIFEST, SEGMENT, LICENSE. */
const MEDIA_AND_LICENSE_REQUESTS = [0, 1, 2];

export interface ShakaOptions extends MediaOptions, LeaseTokenOptions {
  /** Names the stream of each asset URI; see `followSources`. */
  streamIdOf?: StreamIdOf;
}

/** Wires `player` to `session`; returns the function that unwires it. */
export function attachShaka(player: ShakaPlayerLike, session: LeaseSession, options: ShakaOptions = {}): () => void {
  let media: HTMLMediaElement | null = null;
  let unwireMedia: (() => void) | null = null;
  // Shaka empties the element when it loads anew: that keeps the lease.
  const wireElement = () => {
    const now = player.getMediaElement();
    if (now === media) return;
    unwireMedia?.();
    media = now;
    unwireMedia = now ? attachMedia(session, now, { ...options, releaseOnEmptied: false }) : null;
  };
  const follow = followSources(session, options.streamIdOf);
  // `loading` comes as a load starts, with the new asset URI already set.
  const onLoading = () => {
    wireElement();
    follow(player.getAssetUri());
  };
  player.addEventListener("loading", onLoading);
  // Manifest, segment and license requests carry the lease token, unless
  // the app already set an Authorization of its own.
  const mode = options.leaseToken ?? "attach";
  const engine = mode === "off" ? null : (player.getNetworkingEngine?.() ?? null);
  const carryToken: ShakaRequestFilter = async (type, request) => {
    if (!MEDIA_AND_LICENSE_REQUESTS.includes(type) || request.headers[LEASE_TOKEN_HEADER]) return;
    if (mode === "require") await leaseTokenReady(session);
    const value = leaseTokenHeader(session);
    if (value) request.headers[LEASE_TOKEN_HEADER] = value;
  };
  engine?.registerRequestFilter(carryToken);
  // Shaka fires no event on destroy: the adapter wraps it, on this instance only.
  const destroy = player.destroy;
  player.destroy = function (this: ShakaPlayerLike) {
    unwire();
    session.dispose();
    return destroy.call(player);
  };
  const unwire = () => {
    player.removeEventListener("loading", onLoading);
    engine?.unregisterRequestFilter(carryToken);
    player.destroy = destroy;
    unwireMedia?.();
    unwireMedia = null;
    media = null;
  };
  wireElement();
  follow(player.getAssetUri());
  return unwire;
}
