// video.js: a plugin, `player.streamlease(options)`, registered with
// `registerStreamlease(videojs)`. Once the player's tech is ready it maps
// the player's play, pause and ended to the session, moves the lease when
// the player loads another source, re-emits each session event as a player
// event `streamlease:<name>`, and disposes the session with the player.

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
}

/** What registering needs of the `videojs` function. */
export interface VideojsLike {
  registerPlugin(name: string, plugin: (this: VideojsPlayerLike, options: StreamleasePluginOptions) => unknown): unknown;
  getPlugin?(name: string): unknown;
}

export type StreamleasePluginOptions = LeaseSessionOptions &
  MediaOptions & {
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
  const onDispose = () => {
    for (const off of unwire) off();
    session.dispose();
  };
  player.on("dispose", onDispose);
  return session;
}
