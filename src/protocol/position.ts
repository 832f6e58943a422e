/**
 * Resume positions (docs/protocol.md, "Resume positions"): `v1.<region>.<T>` or, to continue a
 * truncated replay, `v1.<region>.<T>.<afterId>`. T is the wall-clock ms at which <region> made
 * messages visible; the token says "this device has every message of its conversations that
 * became visible in <region> before T, give or take the server's lookback". Clients store and send
 * it back verbatim; only servers read it. Pure code, so the SDK can check a stored token's shape.
 */
import { parseId } from './ids.ts';

/** Longest token a client may send (and the server ever issues). */
export const POSITION_MAX_CHARS = 128;
const VERSION = 'v1';
/** The region names the config allows (src/config/schema.ts): no dots, so the token splits. */
const REGION = /^[a-z][a-z0-9-]{0,31}$/;
/** Ms since the Unix epoch: up to 15 digits (year 33658), no sign, no leading zeros needed. */
const TIME = /^\d{1,15}$/;

/** A parsed position. */
export interface ResumePosition {
  /** The region whose visibility clock `t` is. */
  region: string;
  /** Ms since the Unix epoch. */
  t: number;
  /** A truncated replay's last id: the continuation skips ids up to it. */
  afterId: bigint | null;
}

/** Parses a token; null if it is not one (too long, wrong version, malformed part). */
export function parsePosition(token: string): ResumePosition | null {
  if (token.length === 0 || token.length > POSITION_MAX_CHARS) return null;
  const parts = token.split('.');
  if (parts.length !== 3 && parts.length !== 4) return null;
  const [version, region, time, after] = parts as [string, string, string, string | undefined];
  if (version !== VERSION || !REGION.test(region) || !TIME.test(time)) return null;
  const t = Number(time);
  if (!Number.isSafeInteger(t)) return null;
  let afterId: bigint | null = null;
  if (after !== undefined) {
    afterId = parseId(after);
    if (afterId === null) return null;
  }
  return { region, t, afterId };
}

/** The token for a position. */
export function formatPosition(p: ResumePosition): string {
  const base = `${VERSION}.${p.region}.${p.t}`;
  return p.afterId === null ? base : `${base}.${p.afterId}`;
}

/** True when `token` has the shape of a position (what the SDK checks before storing or sending one). */
export function isPositionToken(token: unknown): token is string {
  return typeof token === 'string' && parsePosition(token) !== null;
}
