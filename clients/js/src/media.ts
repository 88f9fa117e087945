// Drives a session from a plain <video> or <audio> element: play acquires,
// pause starts the idle countdown, ended and emptied release; and stops the
// element when the service says this stream may not play.

import type { LeaseSession } from "./session.js";

/** What the adapter needs of an `HTMLMediaElement`. */
export type MediaLike = Pick<HTMLMediaElement, "addEventListener" | "removeEventListener" | "pause" | "play" | "ended">;

export interface MediaOptions {
  /** Pause the element when the user is at the limit, the lease ended, or
   * the session failed. Default true. */
  pauseWhenRefused?: boolean;
  /** Play again once a lease is granted after the limit paused the element
   * (the viewer stopped another stream). Default true. */
  resumeWhenGranted?: boolean;
}

/** Wires `media` to `session`; returns the function that unwires it. */
export function attachMedia(session: LeaseSession, media: MediaLike, options: MediaOptions = {}): () => void {
  const pauseWhenRefused = options.pauseWhenRefused ?? true;
  const resumeWhenGranted = options.resumeWhenGranted ?? true;
  let pausedForLimit = false;

  const onPlay = () => void session.resume();
  // The element also fires `pause` just before `ended`; `ended` releases.
  const onPause = () => {
    if (!media.ended) session.pause();
  };
  const onEnded = () => void session.stop();
  // A new source (or none): this stream is over.
  const onEmptied = () => void session.stop();
  const refuse = (forLimit: boolean) => () => {
    if (!pauseWhenRefused) return;
    pausedForLimit = forLimit;
    media.pause();
  };

  const unsubscribe = [
    session.on("limit", refuse(true)),
    session.on("ended", refuse(false)),
    session.on("error", refuse(false)),
    session.on("granted", () => {
      if (pausedForLimit && resumeWhenGranted) {
        pausedForLimit = false;
        // Autoplay rules may refuse this; the viewer presses play then.
        media.play()?.catch(() => {});
      }
    }),
  ];
  const listeners: Array<[string, EventListener]> = [
    ["play", onPlay],
    ["pause", onPause],
    ["ended", onEnded],
    ["emptied", onEmptied],
  ];
  for (const [name, listener] of listeners) media.addEventListener(name, listener);

  return () => {
    for (const [name, listener] of listeners) media.removeEventListener(name, listener);
    for (const off of unsubscribe) off();
  };
}
