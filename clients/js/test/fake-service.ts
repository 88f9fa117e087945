// A scripted stand-in for the service's HTTP answers, as `fetch` sees them:
// each test queues the answers it wants and reads back what was sent.

import type { Lease } from "../src/api.js";

export interface SentRequest {
  method: string;
  path: string;
  query: string;
  body: unknown;
  authorization: string | null;
  leaseToken: string | null;
  keepalive: boolean;
}

type Reply = () => Response | Promise<Response>;

export class FakeService {
  readonly sent: SentRequest[] = [];
  private readonly replies: Reply[] = [];

  /** The next call gets this status, JSON body and headers. */
  answer(status: number, body?: unknown, headers: Record<string, string> = {}): this {
    this.replies.push(() => response(status, body, headers));
    return this;
  }

  /** The next call gets this answer only once the returned function is
   * called: a request still on its way. */
  held(status: number, body?: unknown): () => void {
    let arrive: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    this.replies.push(async () => {
      await arrived;
      return response(status, body, {});
    });
    return arrive;
  }

  /** The next call gets no answer at all (offline, DNS, CORS). */
  unreachable(): this {
    this.replies.push(() => Promise.reject(new TypeError("Failed to fetch")));
    return this;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    this.sent.push({
      method: init?.method ?? "GET",
      path: url.pathname,
      query: url.search,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
      authorization: headers.get("authorization"),
      leaseToken: headers.get("lease-token"),
      keepalive: init?.keepalive ?? false,
    });
    const reply = this.replies.shift();
    if (!reply) throw new Error(`no answer queued for ${init?.method} ${url.pathname}`);
    return reply();
  };

  /** The requests sent since the last call, as `METHOD /path`. */
  private seen = 0;
  newCalls(): string[] {
    const calls = this.sent.slice(this.seen).map((r) => `${r.method} ${r.path}`);
    this.seen = this.sent.length;
    return calls;
  }

  last(): SentRequest {
    const request = this.sent.at(-1);
    if (!request) throw new Error("nothing was sent");
    return request;
  }
}

function response(status: number, body: unknown, headers: Record<string, string>): Response {
  const type = status >= 400 ? "application/problem+json" : "application/json";
  const text = body === undefined ? null : JSON.stringify(body);
  return new Response(text, { status, headers: { "content-type": type, ...headers } });
}

export const LEASE_ID = "6f1c1e0e-5b1a-4c8e-9d1e-2a9f7a1b0c01";

export function lease(overrides: Partial<Lease> = {}): Lease {
  return {
    lease_id: LEASE_ID,
    user_id: "alice",
    stream_id: "movie-1",
    device_id: "tv",
    acquired_at: "2026-12-01T10:00:00.000Z",
    expires_at: "2026-12-01T10:00:30.000Z",
    ttl_ms: 30_000,
    heartbeat_interval_ms: 10_000,
    active: 1,
    limit: 3,
    ...overrides,
  };
}

export function problem(status: number, code: string, extra: Record<string, unknown> = {}) {
  return { type: "about:blank", title: "Error", status, detail: `${code} in a test`, code, ...extra };
}

/** Lets pending promises run (fetch answers are read asynchronously). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}
