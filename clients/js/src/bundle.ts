// The one-file build for a <script> tag (`dist/streamlease.iife.js`): the
// library and its three adapters under the global `streamlease`.

export * from "./index.js";
export { attachHls, type HlsLike, type HlsOptions } from "./hlsjs.js";
export { attachShaka, type ShakaOptions, type ShakaPlayerLike } from "./shaka.js";
export { registerStreamlease, streamleasePlayer, type StreamleasePluginOptions } from "./videojs.js";
