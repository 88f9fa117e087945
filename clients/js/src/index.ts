// streamlease for browser players: one `LeaseSession` per stream, and
// `attachMedia` to drive it from a media element.

export type { EndReason, Lease, Problem } from "./api.js";
export { attachMedia, type MediaLike, type MediaOptions } from "./media.js";
export {
  LeaseSession,
  type LeaseSessionEvents,
  type LeaseSessionOptions,
  type LimitReached,
  type SessionState,
  StreamleaseError,
} from "./session.js";
export type { GetToken, TokenReason } from "./token.js";
