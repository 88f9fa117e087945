// One stream's lease, from start to stop: acquire, heartbeat at the interval
// the service names, handle every answer it can give, release on stop, on
// page close and after a long pause.

import { type Answer, type Call, type EndReason, type Lease, type Problem, type Wire, leasePath, leasesPath, send } from "./api.js";
import { type DeviceClaim, type LockManagerLike, claimDevice } from "./device.js";
import { Emitter } from "./events.js";
import { type GetToken, TokenKeeper } from "./token.js";

export interface LeaseSessionOptions {
  /** Where the service is, e.g. `https://leases.example.com` (no trailing slash needed). */
  baseUrl: string;
  userId: string;
  streamId: string;
  /** One id per player instance. Strongly advised: it makes a retried
   * acquire take no second slot, lets a heartbeat restore the lease, and
   * lets `switchStream` keep the lease. `tabDeviceId()` makes one per tab. */
  deviceId?: string;
  /** What the viewer calls this device ("Living-room TV"), shown in other
   * players' limit choosers: 1–64 characters, no control characters. */
  deviceName?: string;
  /** Returns the player's JWT when auth is on; called again before it
   * expires and when the service refuses it. */
  getToken?: GetToken;
  /** The stream's classes (`STREAMLEASE_CLASSES`), e.g. `["uhd"]`: the
   * lease counts against each one's limit as well as the total. */
  classes?: string[];
  /** Overrides the service's `STREAMLEASE_ON_LIMIT` for this stream. */
  onLimit?: "deny" | "evict_oldest";
  /** Paused longer than this, the lease is released; play acquires again.
   * Default 5 minutes; `Infinity` holds the slot however long the pause. */
  idleTimeoutMs?: number;
  /** Heartbeats and retries come up to this share early, so players that
   * started together spread out. Default 0.1. */
  jitter?: number;
  /** Retries after failures back off up to this, and never wait longer
   * than a heartbeat interval. Default 30 s. */
  maxRetryDelayMs?: number;
  /** A call that takes longer is abandoned and retried. Default 5 s. */
  requestTimeoutMs?: number;
  /** Ask `getToken` for a new JWT this long before its `exp`. Default 60 s. */
  tokenRefreshMarginMs?: number;
  /** Release with `navigator.sendBeacon` on `pagehide`. Default true. */
  releaseOnPageHide?: boolean;
  /** For tests and other runtimes; the global ones by default. */
  fetch?: typeof fetch;
  sendBeacon?: (url: string) => boolean;
  /** Where `pagehide` and `pageshow` are heard; `globalThis` in a browser. */
  pageEvents?: Pick<EventTarget, "addEventListener" | "removeEventListener"> | null;
  /** Claims the device id against other pages (see `device.ts`);
   * `navigator.locks` by default, null to take the id as given. */
  locks?: LockManagerLike | null;
}

/**
 * - `idle`: not started.
 * - `acquiring`: asking for a lease.
 * - `active`: holding a lease, heartbeating (also while the store is down:
 *   keep playing, the session retries).
 * - `paused`: holding a lease while the player is paused; released after `idleTimeoutMs`.
 * - `limit`: refused at the limit; waiting for the viewer to stop another stream.
 * - `ended`: the service ended this lease (terminated, evicted, revoked, released elsewhere).
 * - `stopped`: released (stop, idle or page close).
 * - `failed`: an answer retrying cannot fix (a refused token, a bad id).
 */
export type SessionState = "idle" | "acquiring" | "active" | "paused" | "limit" | "ended" | "stopped" | "failed";

export interface LimitReached {
  /** The limit that refused: "total", or a stream class such as "uhd"
   * (a plan's 4K limit), so the chooser can say which. */
  limitClass: string;
  /** That limit, and how many live leases count against it. */
  limit: number;
  active: number;
  /** The user's live leases that count against it, oldest first: what to offer to stop. */
  leases: Lease[];
  /** Ends these leases of the user and acquires in the same step. */
  terminate(leaseIds: string[]): Promise<void>;
  /** Asks again, ending nothing (another stream may have stopped). */
  retry(): Promise<void>;
}

export interface LeaseSessionEvents {
  state: { state: SessionState; previous: SessionState };
  /** A lease is held: acquired, or restored by a heartbeat after the store lost it. */
  granted: { lease: Lease; restored: boolean };
  renewed: { lease: Lease };
  limit: LimitReached;
  /** Stop playback and say why. `byLeaseId` is the lease that took the slot. */
  ended: { reason: EndReason; byLeaseId: string | null };
  /** Fail-open: the store is down and the service let playback go on unrecorded. */
  degraded: { lease: Lease };
  /** The service or the network failed this call; keep playing, it is retried in `retryInMs`. */
  unavailable: { code: string; status: number | null; retryInMs: number; attempt: number };
  released: { cause: "stop" | "idle" | "pagehide" | "dispose" };
  /** The lease token changed: a new one came, or the lease ended (null). */
  leaseToken: { token: string | null };
  error: { error: StreamleaseError };
}

export class StreamleaseError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly code: string,
    readonly problem?: Problem,
  ) {
    super(message);
    this.name = "StreamleaseError";
  }
}

const DEFAULT_RETRY_MS = 1000;

export class LeaseSession extends Emitter<LeaseSessionEvents> {
  private readonly wire: Wire;
  private readonly tokens: TokenKeeper;
  private readonly jitter: number;
  private readonly idleTimeoutMs: number;
  private readonly maxRetryDelayMs: number;
  private current: SessionState = "idle";
  private leaseHeld: Lease | null = null;
  /** The latest lease token for `leaseHeld` (service lease tokens). */
  private token: string | null = null;
  private stream: string;
  /** The stream's classes (changed by `switchStream`). */
  private classes: string[];
  /** The device id claimed for this page, once the first start asked. */
  private claim: Promise<DeviceClaim> | null = null;
  private claimed: DeviceClaim | null = null;
  /** Bumped whenever what the session is doing changes (stop, a new start):
   * an answer arriving for an older epoch is not acted on. */
  private epoch = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private resumeOnShow = false;
  /** The last release sent, until it is answered: an acquire waits for it,
   * or the late release would end the lease the acquire renews (the same
   * device gets its lease back). */
  private releasing: Promise<void> = Promise.resolve();
  private readonly onPageHide = () => this.releaseForPageHide();
  private readonly onPageShow = (event: Event) => {
    if ((event as PageTransitionEvent).persisted && this.resumeOnShow) void this.start();
  };

  constructor(private readonly options: LeaseSessionOptions) {
    super();
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.wire = { baseUrl: options.baseUrl.replace(/\/+$/, ""), fetch: fetchImpl, requestTimeoutMs: options.requestTimeoutMs ?? 5000 };
    this.tokens = new TokenKeeper(options.getToken, options.tokenRefreshMarginMs ?? 60_000);
    this.jitter = options.jitter ?? 0.1;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.stream = options.streamId;
    this.classes = options.classes ?? [];
    if (options.releaseOnPageHide ?? true) {
      this.pageEvents()?.addEventListener("pagehide", this.onPageHide);
      this.pageEvents()?.addEventListener("pageshow", this.onPageShow);
    }
  }

  get state(): SessionState {
    return this.current;
  }

  /** The lease token to send with media and license requests (an edge or
   * license proxy checks it), while a lease is held; null otherwise, or
   * when the service signs none. The adapters attach it for you. */
  get leaseToken(): string | null {
    return this.token;
  }

  /** The lease held now, if any. */
  get lease(): Lease | null {
    return this.leaseHeld;
  }

  /** The stream this session leases (changed by `switchStream`). */
  get streamId(): string {
    return this.stream;
  }

  /** The device id the service sees: `options.deviceId`, or, when another
   * page of this browser holds that one, an id of this page's own. Known
   * once `start()` was called; until then the one asked for. */
  get deviceId(): string | undefined {
    return this.claimed?.deviceId ?? this.options.deviceId;
  }

  /** Acquires a lease and keeps it renewed. Does nothing while one is held
   * or being acquired; resumes a paused session. */
  async start(): Promise<void> {
    if (this.current === "paused") return this.resume();
    if (this.current === "acquiring" || this.current === "active") return;
    this.newEpoch();
    const epoch = this.epoch;
    this.resumeOnShow = false;
    this.setState("acquiring");
    await Promise.all([this.releasing, this.claimDevice()]);
    if (epoch !== this.epoch) return;
    return this.acquire([]);
  }

  /**
   * Moves the lease to another stream, as a player does for the next
   * episode: the service renews this device's lease under the new
   * `stream_id`, so the lease id and the slot stay, with no release and no
   * new acquire. Without a `deviceId` the old lease is ended in the same
   * step as the new one is taken (a new lease id, still no second slot).
   * When no lease is held, the next `start()` asks for `streamId`.
   * `classes`: the new stream's, when they differ (a UHD episode after an HD
   * one); the lease then needs room in the limits it did not count against.
   */
  async switchStream(streamId: string, classes: string[] = this.classes): Promise<void> {
    if (streamId === this.stream && sameClasses(classes, this.classes)) return;
    this.stream = streamId;
    this.classes = classes;
    const lease = this.leaseHeld;
    if (!lease || lease.degraded || (this.current !== "active" && this.current !== "paused")) return;
    return this.acquire(this.deviceId ? [] : [lease.lease_id], true);
  }

  /** The player paused: keep the slot for `idleTimeoutMs`, then release it. */
  pause(): void {
    if (this.current !== "active") return;
    this.setState("paused");
    if (Number.isFinite(this.idleTimeoutMs)) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        void this.release("idle");
      }, this.idleTimeoutMs);
    }
  }

  /** The player plays again: back to `active`, or a new acquire if the
   * slot was given up meanwhile (the same device gets its lease back). */
  async resume(): Promise<void> {
    if (this.current !== "paused") return this.start();
    this.clearIdleTimer();
    this.setState("active");
  }

  /** Releases the lease and stops heartbeating. */
  async stop(): Promise<void> {
    return this.release("stop");
  }

  /** Releases the lease, if one is held, and stops listening to page
   * events: call it when the player goes away for good (a single-page app
   * tearing it down). */
  dispose(): void {
    this.pageEvents()?.removeEventListener("pagehide", this.onPageHide);
    this.pageEvents()?.removeEventListener("pageshow", this.onPageShow);
    const released = this.release("dispose");
    // Another page may claim the device id once the lease is given back.
    void released.then(() => this.claim?.then((claim) => claim.release()));
  }

  private claimDevice(): Promise<DeviceClaim | null> {
    const deviceId = this.options.deviceId;
    if (!deviceId) return Promise.resolve(null);
    if (!this.claim) {
      const locks = this.options.locks !== undefined ? this.options.locks : defaultLocks();
      this.claim = claimDevice(this.options.userId, deviceId, locks).then((claim) => (this.claimed = claim));
    }
    return this.claim;
  }

  /** Asks for a lease. `moving`: the lease is held and moves to another
   * stream, so the session stays as it is until the answer. */
  private async acquire(terminate: string[], moving = false): Promise<void> {
    const epoch = this.epoch;
    // A paused player whose lease lapsed stays paused while it asks again.
    if (this.current !== "paused" && !moving) this.setState("acquiring");
    const body: Record<string, unknown> = { stream_id: this.stream };
    if (this.deviceId) body.device_id = this.deviceId;
    if (this.options.deviceName) body.device_name = this.options.deviceName;
    if (this.classes.length > 0) body.classes = this.classes;
    if (this.options.onLimit) body.on_limit = this.options.onLimit;
    if (terminate.length > 0) body.terminate = terminate;
    const answer = await this.call({ method: "POST", path: leasesPath(this.options.userId), body });
    if (epoch !== this.epoch) {
      // Stopped while asking: give back what was granted, or it would hold
      // a slot until it expires.
      if (answer.kind === "lease" && !answer.lease.degraded) void this.sendRelease(answer.lease, false);
      return;
    }
    if (answer.kind === "lease") {
      this.hold(answer.lease);
      if (answer.lease.degraded) this.emit("degraded", { lease: answer.lease });
      else if (moving && answer.status === 200) this.emit("renewed", { lease: answer.lease });
      else this.emit("granted", { lease: answer.lease, restored: false });
    } else if (isProblem(answer, 409, "limit_reached")) {
      this.atLimit(answer.problem);
    } else if (isRetryable(answer)) {
      this.retryLater(answer, () => this.acquire(terminate, moving));
    } else {
      this.fail(answer);
    }
  }

  /** Renews the lease. The usual heartbeat carries no body, which is the
   * service's cheapest call; only after a 404 (the store lost the lease)
   * does it go again with the stream and device, which let the service
   * restore the lease within the limit. */
  private async heartbeat(restore = false): Promise<void> {
    const epoch = this.epoch;
    const lease = this.leaseHeld;
    if (!lease) return;
    let body: Record<string, unknown> | undefined;
    if (restore) {
      body = { stream_id: this.stream };
      if (this.deviceId) body.device_id = this.deviceId;
      if (this.options.deviceName) body.device_name = this.options.deviceName;
      if (this.classes.length > 0) body.classes = this.classes;
    }
    const path = `${leasePath(this.options.userId, lease.lease_id)}/heartbeat`;
    const answer = await this.call({ method: "POST", path, body, leaseToken: this.token });
    if (epoch !== this.epoch) return;
    if (answer.kind === "lease") {
      this.hold(answer.lease);
      if (answer.lease.restored) this.emit("granted", { lease: answer.lease, restored: true });
      else if (answer.lease.degraded) this.emit("degraded", { lease: answer.lease });
      else this.emit("renewed", { lease: answer.lease });
    } else if (isProblem(answer, 404, "lease_not_found") && !restore) {
      // The store lost it (a restart, a failover) or it expired: restore.
      await this.heartbeat(true);
    } else if (isProblem(answer, 404, "lease_not_found")) {
      // Not restorable (a device that meanwhile holds another lease, say):
      // ask again.
      this.leaseHeld = null;
      await this.acquire([]);
    } else if (isProblem(answer, 409, "limit_reached")) {
      this.leaseHeld = null;
      this.atLimit(answer.problem);
    } else if (isProblem(answer, 410, "lease_ended")) {
      this.leaseHeld = null;
      this.clearTimers();
      this.setState("ended");
      this.emit("ended", { reason: answer.problem.reason ?? "released", byLeaseId: answer.problem.by_lease_id ?? null });
    } else if (isRetryable(answer)) {
      this.retryLater(answer, () => this.heartbeat());
    } else {
      this.fail(answer);
    }
  }

  private hold(lease: Lease): void {
    // A heartbeat that kept the token it was sent answers without one.
    if (lease.lease_id !== this.leaseHeld?.lease_id) this.setLeaseToken(null);
    if (typeof lease.lease_token === "string") this.setLeaseToken(lease.lease_token);
    this.leaseHeld = lease;
    this.failures = 0;
    if (this.current !== "paused") this.setState("active");
    this.schedule(this.jittered(lease.heartbeat_interval_ms), () => this.heartbeat());
  }

  private atLimit(problem: Problem): void {
    this.clearTimers();
    this.setState("limit");
    const epoch = this.epoch;
    const again = (terminate: string[]) => {
      if (epoch !== this.epoch || this.current !== "limit") return Promise.resolve();
      return this.acquire(terminate);
    };
    this.emit("limit", {
      limitClass: problem.limit_class ?? "total",
      limit: problem.limit ?? 0,
      active: problem.active ?? 0,
      leases: problem.leases ?? [],
      terminate: (leaseIds) => again(leaseIds),
      retry: () => again([]),
    });
  }

  /** Keep playing; try again after `Retry-After`, backing off while it lasts. */
  private retryLater(answer: Answer, again: () => Promise<void>): void {
    this.failures += 1;
    const retryAfter = answer.kind === "problem" ? answer.retryAfterMs : null;
    const base = Math.max(retryAfter ?? DEFAULT_RETRY_MS, 100);
    const cap = Math.max(Math.min(this.maxRetryDelayMs, this.leaseHeld?.heartbeat_interval_ms ?? Infinity), retryAfter ?? 0);
    const delay = this.jittered(Math.min(base * 2 ** (this.failures - 1), cap));
    this.schedule(delay, again);
    this.emit("unavailable", {
      code: answer.kind === "problem" ? answer.problem.code : "unreachable",
      status: answer.kind === "problem" ? answer.status : null,
      retryInMs: delay,
      attempt: this.failures,
    });
  }

  private fail(answer: Answer): void {
    this.clearTimers();
    this.leaseHeld = null;
    this.setState("failed");
    const error =
      answer.kind === "problem"
        ? new StreamleaseError(answer.problem.detail, answer.status, answer.problem.code, answer.problem)
        : new StreamleaseError(`unexpected answer: ${answer.kind}`, "status" in answer ? answer.status : null, "unexpected");
    this.emit("error", { error });
  }

  private async release(cause: "stop" | "idle" | "dispose"): Promise<void> {
    const lease = this.leaseHeld;
    const wasRunning = this.isRunning();
    this.newEpoch();
    if (wasRunning) {
      this.setState("stopped");
      this.emit("released", { cause });
    }
    if (lease && !lease.degraded) await this.sendRelease(lease, true);
  }

  private releaseForPageHide(): void {
    const lease = this.leaseHeld;
    if (!this.isRunning()) return;
    this.resumeOnShow = this.current === "active" || this.current === "acquiring";
    this.newEpoch();
    this.setState("stopped");
    if (lease && !lease.degraded) {
      // No headers on a beacon: the token rides in the query (RFC 6750 §2.3).
      const token = this.tokens.held();
      const query = token ? `?access_token=${encodeURIComponent(token)}` : "";
      const url = `${this.wire.baseUrl}${leasePath(this.options.userId, lease.lease_id)}/release${query}`;
      const beacon = this.options.sendBeacon ?? globalThis.navigator?.sendBeacon?.bind(globalThis.navigator);
      if (!beacon?.(url)) void this.sendRelease(lease, true);
    }
    this.emit("released", { cause: "pagehide" });
  }

  private sendRelease(lease: Lease, keepalive: boolean): Promise<void> {
    // Best effort: a release that fails leaves a lease that expires on its own.
    const path = leasePath(this.options.userId, lease.lease_id);
    const sent = this.call({ method: "DELETE", path, keepalive }).then(() => undefined);
    this.releasing = sent;
    return sent;
  }

  /** Sends with the current token; after a 401, once more with a fresh one. */
  private async call(call: Omit<Call, "token">): Promise<Answer> {
    try {
      const answer = await send(this.wire, { ...call, token: await this.tokens.current() });
      if (!isProblem(answer, 401, "unauthorized")) return answer;
      const fresh = await this.tokens.refused();
      return fresh === null ? answer : await send(this.wire, { ...call, token: fresh });
    } catch (error) {
      // `getToken` threw: the app's auth backend may be down; retried like one.
      return { kind: "unreachable", error };
    }
  }

  private isRunning(): boolean {
    return this.current === "acquiring" || this.current === "active" || this.current === "paused" || this.current === "limit";
  }

  private setLeaseToken(token: string | null): void {
    if (token === this.token) return;
    this.token = token;
    this.emit("leaseToken", { token });
  }

  private setState(state: SessionState): void {
    // No lease, no token: media stops being served once it is gone.
    if (state === "ended" || state === "stopped" || state === "failed" || state === "limit" || state === "idle") {
      this.setLeaseToken(null);
    }
    if (state === this.current) return;
    const previous = this.current;
    this.current = state;
    this.emit("state", { state, previous });
  }

  private newEpoch(): void {
    this.epoch += 1;
    this.clearTimers();
    this.leaseHeld = null;
    this.failures = 0;
  }

  private schedule(delayMs: number, run: () => Promise<void>): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void run();
    }, delayMs);
  }

  private clearTimers(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.clearIdleTimer();
  }

  private clearIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Up to `jitter` early, never late: a heartbeat must beat the TTL. */
  private jittered(ms: number): number {
    return Math.round(ms * (1 - this.jitter * Math.random()));
  }

  private pageEvents(): Pick<EventTarget, "addEventListener" | "removeEventListener"> | null {
    if (this.options.pageEvents !== undefined) return this.options.pageEvents;
    return typeof globalThis.addEventListener === "function" && "document" in globalThis ? globalThis : null;
  }
}

function defaultLocks(): LockManagerLike | null {
  return (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks ?? null;
}

type ProblemAnswer = Extract<Answer, { kind: "problem" }>;

/** Narrows to a problem with this code only; a `false` leaves every other problem possible. */
function isProblem<C extends string>(
  answer: Answer,
  status: number,
  code: C,
): answer is ProblemAnswer & { problem: Problem & { code: C } } {
  return answer.kind === "problem" && answer.status === status && answer.problem.code === code;
}

/** What waiting can fix: no answer, the store down or failing, a timeout, a proxy. */
function isRetryable(answer: Answer): boolean {
  return answer.kind === "unreachable" || (answer.kind === "problem" && (answer.status >= 500 || answer.status === 408 || answer.status === 429));
}

function sameClasses(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}
