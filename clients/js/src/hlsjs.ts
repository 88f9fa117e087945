// hls.js: `attachHls(hls, session)` drives a session from an `Hls` instance.
// It follows the media element hls.js is attached to (also across
// `recoverMediaError()`, which detaches and attaches it again), moves the
// lease when `loadSource` loads another stream, and disposes the session
// when the instance is destroyed.

import { type MediaOptions, attachMedia } from "./media.js";
import type { LeaseSession } from "./session.js";
import { type StreamIdOf, followSources } from "./sources.js";

/** What the adapter needs of an `Hls` instance (hls.js 1.x). */
export interface HlsLike {
  readonly media: HTMLMediaElement | null;
  readonly url: string | null;
  on(event: string, listener: (event: string, data: { url?: string }) => void): void;
  off(event: string, listener: (event: string, data: { url?: string }) => void): void;
}

export interface HlsOptions extends MediaOptions {
  /** Names the stream of each manifest URL; see `followSources`. */
  streamIdOf?: StreamIdOf;
}

/** `Hls.Events`, by value: the adapter does not import hls.js. */
const MEDIA_ATTACHED = "hlsMediaAttached";
const MEDIA_DETACHING = "hlsMediaDetaching";
const MANIFEST_LOADING = "hlsManifestLoading";
const DESTROYING = "hlsDestroying";

/** Wires `hls` to `session`; returns the function that unwires it. */
export function attachHls(hls: HlsLike, session: LeaseSession, options: HlsOptions = {}): () => void {
  let unwireMedia: (() => void) | null = null;
  const unwireElement = () => {
    unwireMedia?.();
    unwireMedia = null;
  };
  // hls.js empties the element to recover and to change sources: that
  // keeps the lease.
  const wireElement = () => {
    unwireElement();
    if (hls.media) unwireMedia = attachMedia(session, hls.media, { ...options, releaseOnEmptied: false });
  };
  const follow = followSources(session, options.streamIdOf);
  const onManifest = (_event: string, data: { url?: string }) => follow(data.url);
  const onDestroying = () => {
    unwire();
    session.dispose();
  };
  const listeners: Array<[string, (event: string, data: { url?: string }) => void]> = [
    [MEDIA_ATTACHED, wireElement],
    [MEDIA_DETACHING, unwireElement],
    [MANIFEST_LOADING, onManifest],
    [DESTROYING, onDestroying],
  ];
  for (const [event, listener] of listeners) hls.on(event, listener);
  const unwire = () => {
    for (const [event, listener] of listeners) hls.off(event, listener);
    unwireElement();
  };
  wireElement();
  follow(hls.url);
  return unwire;
}
