// streamlease for browser players: one `LeaseSession` per stream, and
// `attachMedia` to drive it from a media element. The adapters for
// video.js, hls.js and Shaka are the subpaths `/videojs`, `/hlsjs`, `/shaka`.

export type { EndReason, Lease, Problem } from "./api.js";
export { type DeviceClaim, type LockManagerLike, tabDeviceId } from "./device.js";
export { type ElementOptions, type MediaLike, type MediaOptions, type Playback, attachMedia, drive } from "./media.js";
export {
  LeaseSession,
  type LeaseSessionEvents,
  type LeaseSessionOptions,
  type LimitReached,
  type SessionState,
  StreamleaseError,
} from "./session.js";
export { LEASE_TOKEN_HEADER, type LeaseTokenOptions, leaseTokenHeader } from "./lease-token.js";
export { type StreamIdOf, followSources, streamIdFromUrl } from "./sources.js";
export type { GetToken, TokenReason } from "./token.js";
