// The wire: one function per streamlease call, each answering with a typed
// `Answer` instead of throwing, so the session decides every case in one place.

/** A lease as the service returns it. */
export interface Lease {
  lease_id: string;
  user_id: string;
  stream_id: string;
  device_id: string | null;
  /** What the viewer calls the device; null when its player sent none. */
  device_name?: string | null;
  /** The classes it counts against; absent on degraded answers. */
  classes?: string[];
  acquired_at: string;
  expires_at: string;
  ttl_ms: number;
  heartbeat_interval_ms: number;
  /** The user's live leases after the call; absent on degraded answers. */
  active?: number;
  limit?: number;
  /** A heartbeat recreated the lease after the store lost it. */
  restored?: boolean;
  /** Fail-open: the store was down and nothing was recorded. */
  degraded?: boolean;
  /** On acquire: leases this acquire ended to make room. */
  evicted?: string[];
  terminated?: string[];
  /** With lease tokens on: a new token for this lease, for media and
   * license requests; absent when the one sent back is still good, null on
   * degraded answers. */
  lease_token?: string | null;
}

export type EndReason = "released" | "evicted" | "terminated" | "revoked";

/** An RFC 9457 problem, with the members streamlease adds. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  /** With limit_reached: the limit that refused, "total" or a class;
   * `limit`, `active` and `leases` are that limit's. */
  limit_class?: string;
  limit?: number;
  active?: number;
  leases?: Lease[];
  reason?: EndReason;
  by_lease_id?: string;
}

export type Answer =
  | { kind: "lease"; status: number; lease: Lease }
  | { kind: "done"; status: number }
  | { kind: "problem"; status: number; problem: Problem; retryAfterMs: number | null }
  /** No HTTP answer: offline, DNS, a timeout, or a CORS refusal (browsers hide which). */
  | { kind: "unreachable"; error: unknown };

export interface Wire {
  baseUrl: string;
  fetch: typeof fetch;
  requestTimeoutMs: number;
}

export interface Call {
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  token: string | null;
  /** The lease token held, sent back so the service signs a new one only
   * when it is half spent. */
  leaseToken?: string | null;
  /** Let the request outlive the page (a release as the tab closes). */
  keepalive?: boolean;
}

export async function send(wire: Wire, call: Call): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (call.body !== undefined) headers["content-type"] = "application/json";
  if (call.token) headers["authorization"] = `Bearer ${call.token}`;
  if (call.leaseToken) headers["lease-token"] = call.leaseToken;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), wire.requestTimeoutMs);
  try {
    const response = await wire.fetch(wire.baseUrl + call.path, {
      method: call.method,
      headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: abort.signal,
      keepalive: call.keepalive,
      // Tokens travel in a header, never in cookies.
      credentials: "omit",
    });
    return await answerOf(response);
  } catch (error) {
    return { kind: "unreachable", error };
  } finally {
    clearTimeout(timer);
  }
}

async function answerOf(response: Response): Promise<Answer> {
  const status = response.status;
  if (status === 204) return { kind: "done", status };
  const text = await response.text();
  const json = parse(text);
  if (response.ok && isLease(json)) return { kind: "lease", status, lease: json };
  if (response.ok) return { kind: "done", status };
  const problem: Problem = isProblem(json)
    ? json
    : // A proxy's HTML error page, say: keep the status, invent the rest.
      { type: "about:blank", title: response.statusText, status, detail: text.slice(0, 200), code: `http_${status}` };
  return { kind: "problem", status, problem, retryAfterMs: retryAfterMs(response.headers.get("retry-after")) };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isLease(value: unknown): value is Lease {
  return typeof value === "object" && value !== null && typeof (value as Lease).lease_id === "string";
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && typeof (value as Problem).code === "string";
}

/** `Retry-After` is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(header: string | null): number | null {
  if (header === null) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

/** Path segments are validated ids, but encode them anyway: a bad id then
 * gets a 400 instead of calling another route. */
export function leasesPath(userId: string): string {
  return `/v1/users/${encodeURIComponent(userId)}/leases`;
}

export function leasePath(userId: string, leaseId: string): string {
  return `${leasesPath(userId)}/${encodeURIComponent(leaseId)}`;
}
