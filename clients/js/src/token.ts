// Keeps the player's JWT: asks the app for one when there is none, when the
// one held is about to expire, and when the service refused it.

export type TokenReason = "initial" | "expiring" | "refused";

/** The app's hook: returns a JWT for this user (or null when auth is off). */
export type GetToken = (reason: TokenReason) => string | null | Promise<string | null>;

export class TokenKeeper {
  private token: string | null = null;
  private expiresAtMs: number | null = null;
  private asked = false;

  constructor(
    private readonly getToken: GetToken | undefined,
    /** Ask again this long before `exp`. */
    private readonly refreshMarginMs: number,
  ) {}

  /** The token to send now, refreshed first if it is about to expire. */
  async current(): Promise<string | null> {
    if (!this.getToken) return null;
    if (!this.asked) return this.ask("initial");
    if (this.expiresAtMs !== null && this.expiresAtMs - Date.now() <= this.refreshMarginMs) {
      return this.ask("expiring");
    }
    return this.token;
  }

  /** After a 401: a fresh token, or null when there is no way to get one. */
  async refused(): Promise<string | null> {
    return this.getToken ? this.ask("refused") : null;
  }

  /** What is held, without asking: for a beacon, which cannot wait. */
  held(): string | null {
    return this.token;
  }

  private async ask(reason: TokenReason): Promise<string | null> {
    this.asked = true;
    const token = (await this.getToken?.(reason)) ?? null;
    this.token = token;
    this.expiresAtMs = token === null ? null : expiryOf(token);
    return token;
  }
}

/** A JWT's `exp` in ms, or null when it has none or is not a JWT we can read
 * (then it is kept until the service refuses it). */
export function expiryOf(token: string): number | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")));
    return typeof claims.exp === "number" ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}
