// Drives a session from a player: play acquires, pause starts the idle
// countdown, ended releases; and pauses the player when the service says
// this stream may not play. `attachMedia` does it for a plain <video> or
// <audio> element; the adapters (videojs, hlsjs, shaka) for their players.

import type { LeaseSession } from "./session.js";

/** What the adapter needs of an `HTMLMediaElement`. */
export type MediaLike = Pick<HTMLMediaElement, "addEventListener" | "removeEventListener" | "pause" | "play" | "ended">;

export interface MediaOptions {
  /** Pause the player when the user is at the limit, the lease ended, or
   * the session failed. Default true. */
  pauseWhenRefused?: boolean;
  /** Play again once a lease is granted after the limit paused the player
   * (the viewer stopped another stream). Default true. */
  resumeWhenGranted?: boolean;
}

export interface ElementOptions extends MediaOptions {
  /** Release when the element is emptied (its source removed or replaced).
   * Default true. The adapters turn it off: their players empty the
   * element to recover from errors and to change sources, which must keep
   * the lease. */
  releaseOnEmptied?: boolean;
}

/** A player as the session sees it. */
export interface Playback {
  /** Listens to the player's `play`, `pause` or `ended`; returns the way to stop. */
  listen(name: "play" | "pause" | "ended", listener: () => void): () => void;
  pause(): void;
  play(): Promise<unknown> | void;
  ended(): boolean;
}

/** Wires `playback` to `session`; returns the function that unwires it. */
export function drive(session: LeaseSession, playback: Playback, options: MediaOptions = {}): () => void {
  const pauseWhenRefused = options.pauseWhenRefused ?? true;
  const resumeWhenGranted = options.resumeWhenGranted ?? true;
  let pausedForLimit = false;

  const refuse = (forLimit: boolean) => () => {
    if (!pauseWhenRefused) return;
    pausedForLimit = forLimit;
    playback.pause();
  };
  const unwire = [
    playback.listen("play", () => void session.resume()),
    // Players also fire `pause` just before `ended`; `ended` releases.
    playback.listen("pause", () => {
      if (!playback.ended()) session.pause();
    }),
    playback.listen("ended", () => void session.stop()),
    session.on("limit", refuse(true)),
    session.on("ended", refuse(false)),
    session.on("error", refuse(false)),
    session.on("granted", () => {
      if (pausedForLimit && resumeWhenGranted) {
        pausedForLimit = false;
        // Autoplay rules may refuse this; the viewer presses play then.
        Promise.resolve(playback.play()).catch(() => {});
      }
    }),
  ];
  return () => {
    for (const off of unwire) off();
  };
}

/** The `Playback` of a media element. */
export function elementPlayback(media: MediaLike): Playback {
  return {
    listen(name, listener) {
      media.addEventListener(name, listener);
      return () => media.removeEventListener(name, listener);
    },
    pause: () => media.pause(),
    play: () => media.play(),
    ended: () => media.ended,
  };
}

/** Wires `media` to `session`; returns the function that unwires it. */
export function attachMedia(session: LeaseSession, media: MediaLike, options: ElementOptions = {}): () => void {
  const unwire = drive(session, elementPlayback(media), options);
  if (!(options.releaseOnEmptied ?? true)) return unwire;
  // A new source (or none): this stream is over.
  const onEmptied = () => void session.stop();
  media.addEventListener("emptied", onEmptied);
  return () => {
    media.removeEventListener("emptied", onEmptied);
    unwire();
  };
}
