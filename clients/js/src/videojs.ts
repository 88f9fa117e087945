// video.js: a plugin, `player.streamlease(options)`, registered with
// `registerStreamlease(videojs)`. Once the player's tech is ready it maps
// the player's play, pause and ended to the session, moves the lease when
// the player loads another source, re-emits each session event as a player
// event `streamlease:<name>`, and disposes the session with the player.

import { LEASE_TOKEN_HEADER, type LeaseTokenOptions, leaseTokenHeader } from "./lease-token.js";
import { type MediaOptions, type Playback, drive } from "./media.js";
import { LeaseSession, type LeaseSessionEvents, type LeaseSessionOptions } from "./session.js";
import { type StreamIdOf, followSources } from "./sources.js";

/** What the plugin needs of a video.js player (video.js 7 and 8). */
export interface VideojsPlayerLike {
  on(type: string, listener: () => void): void;
  off(type: string, listener: () => void): void;
  ready(callback: () => void): void;
  trigger(type: string, data?: unknown): void;
  pause(): void;
  play(): Promise<unknown> | undefined;
  ended(): boolean;
  currentSrc(): string;
  /** The tech, whose `vhs` (video.js' HTTP streaming) takes request hooks. */
  tech?(options: { IWillNotUseThisInPlugins: true }): { vhs?: { xhr?: VhsXhrLike } } | undefined;
}

/** VHS' per-player request hooks (video.js 8). */
export interface VhsXhrLike {
  onRequest(hook: (options: VhsRequestOptions) => VhsRequestOptions): void;
  offRequest(hook: (options: VhsRequestOptions) => VhsRequestOptions): void;
}

export interface VhsRequestOptions {
  uri: string;
  headers?: Record<string, string>;
}

/** What registering needs of the `videojs` function. */
export interface VideojsLike {
  registerPlugin(name: string, plugin: (this: VideojsPlayerLike, options: StreamleasePluginOptions) => unknown): unknown;
  getPlugin?(name: string): unknown;
}

export type StreamleasePluginOptions = LeaseSessionOptions &
  MediaOptions &
  LeaseTokenOptions & {
    /** Names the stream of each source URL; see `followSources`. */
    streamIdOf?: StreamIdOf;
  };

/** Every session event, re-emitted as `streamlease:<name>` on the player. */
const EVENTS: Array<keyof LeaseSessionEvents> = [
  "state",
  "granted",
  "renewed",
  "limit",
  "ended",
  "degraded",
  "unavailable",
  "released",
  "error",
];

/** Registers the `streamlease` plugin (once; again is a no-op). */
export function registerStreamlease(videojs: VideojsLike, name = "streamlease"): void {
  if (videojs.getPlugin?.(name)) return;
  videojs.registerPlugin(name, function (this: VideojsPlayerLike, options: StreamleasePluginOptions) {
    return streamleasePlayer(this, options);
  });
}

/** The plugin's work on one player; returns its session. */
export function streamleasePlayer(player: VideojsPlayerLike, options: StreamleasePluginOptions): LeaseSession {
  const session = new LeaseSession(options);
  const playback: Playback = {
    listen(name, listener) {
      player.on(name, listener);
      return () => player.off(name, listener);
    },
    pause: () => player.pause(),
    play: () => player.play(),
    ended: () => player.ended(),
  };
  const unwire: Array<() => void> = EVENTS.map((event) =>
    session.on(event, (data) => player.trigger(`streamlease:${event}`, data)),
  );
  player.ready(() => {
    unwire.push(drive(session, playback, options));
    const follow = followSources(session, options.streamIdOf);
    const onLoadStart = () => follow(player.currentSrc());
    player.on("loadstart", onLoadStart);
    unwire.push(() => player.off("loadstart", onLoadStart));
    follow(player.currentSrc());
  });
  // VHS' hooks cannot wait: with "require", start the session before the
  // source loads (see the README).
  if ((options.leaseToken ?? "attach") !== "off") unwire.push(carryLeaseToken(player, session));
  const onDispose = () => {
    for (const off of unwire) off();
    session.dispose();
  };
  player.on("dispose", onDispose);
  return session;
}

/** Playlist and segment requests of the player's VHS carry the lease token,
 * unless the app set an Authorization of its own. VHS takes per-player
 * hooks once it says `xhr-hooks-ready` (each source it loads); a source
 * set before the plugin may have said so already. Returns the unwiring. */
function carryLeaseToken(player: VideojsPlayerLike, session: LeaseSession): () => void {
  const hook = (request: VhsRequestOptions): VhsRequestOptions => {
    const value = leaseTokenHeader(session);
    if (value && !request.headers?.[LEASE_TOKEN_HEADER]) request.headers = { ...request.headers, [LEASE_TOKEN_HEADER]: value };
    return request;
  };
  let hooked: VhsXhrLike | null = null;
  const hookVhs = () => {
    const xhr = player.tech?.({ IWillNotUseThisInPlugins: true })?.vhs?.xhr;
    if (!xhr || xhr === hooked) return;
    hooked?.offRequest(hook);
    xhr.onRequest(hook);
    hooked = xhr;
  };
  player.on("xhr-hooks-ready", hookVhs);
  player.ready(hookVhs);
  return () => {
    player.off("xhr-hooks-ready", hookVhs);
    hooked?.offRequest(hook);
  };
}
