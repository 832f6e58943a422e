/**
 * Checking a `SessionsEnd` read from the wire (a NATS control event, a replicated event): a
 * malformed one is dropped, never half-applied.
 */
import { isUserId } from '../protocol/index.ts';
import type { Revocation } from '../storage/revocations.ts';
import type { SessionsEnd } from './types.ts';

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function isRevocation(v: unknown): v is Revocation {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (!isUserId(r.userId)) return false;
  if (r.kind === 'token') return typeof r.jti === 'string' && r.jti.length > 0 && finite(r.expiresAt);
  return r.kind === 'user' && finite(r.before);
}

export function isSessionsEnd(v: unknown): v is SessionsEnd {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  if (e.kind === 'revoked') return isRevocation(e.revocation);
  return e.kind === 'disconnect' && isUserId(e.userId) && finite(e.at);
}
