/**
 * The revocation list as one gateway holds it: in memory, because the WebSocket upgrade checks
 * tokens synchronously (auth.ts). Filled from the store at start and every
 * `api.revocationRefreshMs`, and updated at once by the pushes of a revocation (the router's
 * control events within the region, replication between regions). Entries only accumulate
 * between refreshes (a later `before` replaces an earlier one); expired token entries go.
 */
import type { SessionsEnd } from '../routing/types.ts';
import type { Revocation } from '../storage/revocations.ts';
import type { Identity } from './auth.ts';

/** What a session is matched on when sessions end. */
export interface SessionKey {
  identity: Identity;
  /** When the connection was opened (ms). */
  openedAt: number;
}

export class RevocationList {
  /** jti → when the token expires (ms): the entry is useless after that. */
  private readonly tokens = new Map<string, number>();
  /** userId → tokens issued at or before this (ms) are revoked. */
  private readonly users = new Map<string, number>();

  get size(): number {
    return this.tokens.size + this.users.size;
  }

  /** Adds a revocation; true if it revokes more than the list did (new, or a later `before`). */
  add(r: Revocation): boolean {
    if (r.kind === 'token') {
      const prior = this.tokens.get(r.jti);
      this.tokens.set(r.jti, Math.max(r.expiresAt, prior ?? 0));
      return prior === undefined;
    }
    const prior = this.users.get(r.userId);
    if (prior !== undefined && prior >= r.before) return false;
    this.users.set(r.userId, r.before);
    return true;
  }

  /**
   * Merges what the store holds (a refresh) and forgets expired token entries. Returns the
   * revocations that were not in the list: their pushes were lost, so their sessions may be open.
   */
  merge(list: readonly Revocation[], now: number): Revocation[] {
    const added = list.filter((r) => this.add(r));
    for (const [jti, exp] of this.tokens) if (exp <= now) this.tokens.delete(jti);
    return added;
  }

  /**
   * True if the token is revoked: its `jti` is, or its user's tokens issued before a time are and
   * it was issued then or earlier. `iat` has second precision, so a token issued in the same
   * second as a user revocation counts as revoked (refusing too much beats refusing too little).
   * A token without `iat` is revoked by any user revocation.
   */
  isRevoked(id: Identity): boolean {
    if (id.jti !== undefined && this.tokens.has(id.jti)) return true;
    const before = this.users.get(id.userId);
    if (before === undefined) return false;
    return id.issuedAt === undefined || id.issuedAt <= Math.floor(before / 1000) * 1000;
  }
}

/** True if ending `end` closes the session `key` of `userId`. */
export function endsSession(end: SessionsEnd, userId: string, key: SessionKey): boolean {
  if (end.kind === 'disconnect') return userId === end.userId && key.openedAt <= end.at;
  const r = end.revocation;
  if (r.userId !== userId) return false;
  if (r.kind === 'token') return key.identity.jti === r.jti;
  const iat = key.identity.issuedAt;
  return iat === undefined || iat <= Math.floor(r.before / 1000) * 1000;
}
