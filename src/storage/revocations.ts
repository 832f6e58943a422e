/**
 * Token revocations (docs/operations.md, "Revoking tokens"): one token by its `jti`, or every
 * token of a user issued before a time. Stored durably in both stores and replicated to every
 * region; each gateway holds the list in memory (`src/gateway/revocations.ts`) because the
 * WebSocket upgrade checks tokens synchronously.
 */

export type Revocation =
  /** One token; kept until the token would have expired anyway (`expiresAt`, ms). */
  | { kind: 'token'; jti: string; userId: string; expiresAt: number }
  /** Every token of `userId` issued (`iat`) at or before `before` (ms, second precision). */
  | { kind: 'user'; userId: string; before: number };

export interface RevocationStore {
  /**
   * Records a revocation; idempotent. For a user, the later of two `before` times wins,
   * whichever order they arrive in (replicated revocations may cross).
   */
  add(revocation: Revocation): Promise<void>;
  /** Every revocation in force at `now` (token revocations past their `expiresAt` are left out). */
  list(now: number): Promise<Revocation[]>;
}
