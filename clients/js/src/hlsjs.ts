// hls.js: `attachHls(hls, session)` drives a session from an `Hls` instance.
// It follows the media element hls.js is attached to (also across
// `recoverMediaError()`, which detaches and attaches it again), moves the
// lease when `loadSource` loads another stream, and disposes the session
// when the instance is destroyed.

import { LEASE_TOKEN_HEADER, type LeaseTokenOptions, leaseTokenHeader, leaseTokenReady } from "./lease-token.js";
import { type MediaOptions, attachMedia } from "./media.js";
import type { LeaseSession } from "./session.js";
import { type StreamIdOf, followSources } from "./sources.js";

/** The request hooks of hls.js' config the adapter wraps. */
export interface HlsRequestHooks {
  xhrSetup?: (xhr: XMLHttpRequest, url: string) => void | Promise<void>;
  fetchSetup?: (context: { url: string }, init: RequestInit) => Request | Promise<Request>;
  licenseXhrSetup?: (xhr: XMLHttpRequest, url: string, ...rest: unknown[]) => unknown;
}

/** What the adapter needs of an `Hls` instance (hls.js 1.x). */
export interface HlsLike {
  readonly media: HTMLMediaElement | null;
  readonly url: string | null;
  /** Its config: playlist, segment and license requests are made with the
   * hooks found there when each request starts. */
  readonly config?: HlsRequestHooks;
  on(event: string, listener: (event: string, data: { url?: string }) => void): void;
  off(event: string, listener: (event: string, data: { url?: string }) => void): void;
}

export interface HlsOptions extends MediaOptions, LeaseTokenOptions {
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
  const mode = options.leaseToken ?? "attach";
  const unhook = mode === "off" || !hls.config ? () => {} : hookRequests(hls.config, session, mode === "require");
  const unwire = () => {
    for (const [event, listener] of listeners) hls.off(event, listener);
    unwireElement();
    unhook();
  };
  wireElement();
  follow(hls.url);
  return unwire;
}

/** Wraps hls.js' request hooks so each playlist, segment and license
 * request carries the lease token (with `wait`, waiting for one until the
 * session has a lease: `leaseTokenReady`); returns what puts them back. Hooks the app
 * set run first. */
function hookRequests(config: HlsRequestHooks, session: LeaseSession, wait: boolean): () => void {
  const { xhrSetup, fetchSetup, licenseXhrSetup } = config;
  config.xhrSetup = async (xhr, url) => {
    await xhrSetup?.(xhr, url);
    if (wait) await leaseTokenReady(session);
    const value = leaseTokenHeader(session);
    if (!value) return;
    // hls.js opens the request after this hook unless the hook did.
    if (xhr.readyState === XMLHttpRequest.UNSENT) xhr.open("GET", url, true);
    xhr.setRequestHeader(LEASE_TOKEN_HEADER, value);
  };
  config.fetchSetup = async (context, init) => {
    const request = fetchSetup ? await fetchSetup(context, init) : new Request(context.url, init);
    if (wait) await leaseTokenReady(session);
    const value = leaseTokenHeader(session);
    if (value) request.headers.set(LEASE_TOKEN_HEADER, value);
    return request;
  };
  config.licenseXhrSetup = async function (this: unknown, xhr: XMLHttpRequest, url: string, ...rest: unknown[]) {
    // Its answer may replace the license challenge: hand it back.
    const answer = await licenseXhrSetup?.call(this, xhr, url, ...rest);
    const value = leaseTokenHeader(session);
    if (value && xhr.readyState === XMLHttpRequest.OPENED) xhr.setRequestHeader(LEASE_TOKEN_HEADER, value);
    return answer;
  };
  return () => Object.assign(config, { xhrSetup, fetchSetup, licenseXhrSetup });
}
