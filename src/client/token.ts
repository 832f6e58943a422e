/** Token handling: a fixed string, or a function the client calls for a fresh one when needed. */

export type TokenSource = string | (() => Promise<string>);

/** Refresh this long before `exp`, so a token does not expire between fetch and handshake. */
const EXPIRY_MARGIN_MS = 10_000;

/**
 * The `exp` claim of a JWT, in ms since epoch, or null when the token is not a JWT we can read.
 * The signature is not checked: this only decides whether to fetch a new token before connecting
 * (browsers cannot see the HTTP 401 of a refused handshake).
 */
export function jwtExpiry(token: string): number | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json: unknown = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')));
    if (typeof json !== 'object' || json === null) return null;
    const exp = (json as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export class TokenProvider {
  private cached: string | null = null;
  private inFlight: Promise<string> | null = null;

  constructor(
    private readonly source: TokenSource,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a refused token can be replaced. */
  get refreshable(): boolean {
    return typeof this.source === 'function';
  }

  /**
   * The token to connect with: the fixed one, the cached one while it is not about to expire, or
   * a fresh one. A token function that does not answer within `timeoutMs` counts as failed, and
   * the next call asks it again instead of waiting on the hung call.
   */
  async get(timeoutMs: number): Promise<string> {
    if (typeof this.source === 'string') return this.source;
    if (this.cached !== null) {
      const exp = jwtExpiry(this.cached);
      if (exp === null || exp - EXPIRY_MARGIN_MS > this.now()) return this.cached;
    }
    if (!this.inFlight) {
      const fetching = this.source().then((token) => {
        if (typeof token !== 'string' || token.length === 0) {
          throw new TypeError('the token function returned no token');
        }
        if (this.inFlight === fetching) this.cached = token;
        return token;
      });
      const forget = () => {
        if (this.inFlight === fetching) this.inFlight = null;
      };
      fetching.then(forget, forget);
      this.inFlight = fetching;
    }
    const fetching = this.inFlight;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (this.inFlight === fetching) this.inFlight = null;
        reject(new Error(`the token function did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([fetching, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The server refused the current token: the next `get` fetches a new one. */
  invalidate(): void {
    this.cached = null;
  }
}
