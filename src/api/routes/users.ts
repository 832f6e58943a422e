/**
 * Users, for app backends and operators: presence, ending a user's sessions everywhere
 * (disconnect) and revoking tokens (one by its `jti`, or all issued before now). Both end the
 * sessions on every gateway of every region within seconds (`SessionEnds`); a revocation is
 * also stored, so the tokens are refused at connect from then on.
 */
import { z } from 'zod';
import type { Revocation } from '../../storage/revocations.ts';
import { userParam } from '../actor.ts';
import type { ApiRoute, RouteModule } from '../route.ts';

/** A token revocation without the token's expiry is kept this long (longer than any sane token). */
export const DEFAULT_REVOCATION_KEEP_MS = 30 * 24 * 3600 * 1000;

const presenceResult = z.object({
  userId: z.string(),
  status: z.enum(['online', 'away', 'offline']),
  lastSeen: z.number().nullable(),
  devices: z.number(),
  gateways: z.array(z.string()),
});

const disconnectResult = z.object({
  userId: z.string(),
  /** Sessions opened before this (ms) were closed. */
  at: z.number(),
});

const revokeBody = z.object({
  /** Revoke this one token; without it, every token of the user issued until now. */
  jti: z.string().min(1).max(200).optional(),
  /** When that token expires (ms): the revocation is kept until then. */
  expiresAt: z.number().int().positive().optional(),
});

const revokeResult = z.object({
  revocation: z.union([
    z.object({ kind: z.literal('token'), jti: z.string(), userId: z.string(), expiresAt: z.number() }),
    z.object({ kind: z.literal('user'), userId: z.string(), before: z.number() }),
  ]),
});

/**
 * Remembers the answers to recent disconnects and revocations by `Idempotency-Key` (on this
 * gateway, for `ttlMs`): a retry gets the first answer instead of moving `before` or `at` to
 * the retry's time (which would end sessions opened after the first call).
 */
class RecentAnswers<T> {
  private readonly answers = new Map<string, { value: T; at: number }>();
  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}
  get(key: string | null, now: number): T | undefined {
    if (key === null) return undefined;
    const hit = this.answers.get(key);
    return hit && now - hit.at < this.ttlMs ? hit.value : undefined;
  }
  set(key: string | null, value: T, now: number): void {
    if (key === null) return;
    if (this.answers.size >= this.max) {
      for (const [k, v] of this.answers) if (now - v.at >= this.ttlMs) this.answers.delete(k);
      if (this.answers.size >= this.max) this.answers.clear();
    }
    this.answers.set(key, { value, at: now });
  }
}

export const userRoutes: RouteModule = (gw) => {
  const recent = new RecentAnswers<{ userId: string; at: number } | { revocation: Revocation }>(
    24 * 3600 * 1000,
    10_000,
  );
  const presence: ApiRoute<undefined, z.infer<typeof presenceResult>> = {
    method: 'GET',
    path: '/v1/users/{userId}/presence',
    operationId: 'getPresence',
    summary: "A user's presence (online, away or offline; devices; gateways)",
    tag: 'users',
    response: presenceResult,
    async handle(req) {
      const userId = userParam(req.params);
      const infos = await gw.deps.presence.getPresence([userId]);
      const info = infos.get(userId);
      return info ?? { userId, status: 'offline', lastSeen: null, devices: 0, gateways: [] };
    },
  };
  const disconnect: ApiRoute<undefined, z.infer<typeof disconnectResult>> = {
    method: 'POST',
    path: '/v1/users/{userId}/disconnect',
    operationId: 'disconnectUser',
    summary: 'Close every session of the user, on every gateway of every region (close 4403)',
    tag: 'users',
    response: disconnectResult,
    async handle(req) {
      const userId = userParam(req.params);
      const now = Date.now();
      const again = recent.get(req.idempotencyKey ? `d:${userId}:${req.idempotencyKey}` : null, now);
      const at = again && 'at' in again ? again.at : now;
      await gw.sessionEnds.endEverywhere({ kind: 'disconnect', userId, at });
      recent.set(req.idempotencyKey ? `d:${userId}:${req.idempotencyKey}` : null, { userId, at }, now);
      return { userId, at };
    },
  };
  const revoke: ApiRoute<z.infer<typeof revokeBody>, z.infer<typeof revokeResult>> = {
    method: 'POST',
    path: '/v1/users/{userId}/revoke',
    operationId: 'revokeTokens',
    summary: "Revoke one token (jti) or all the user's tokens issued until now; their sessions close (4403)",
    tag: 'users',
    body: revokeBody,
    response: revokeResult,
    async handle(req) {
      const userId = userParam(req.params);
      const now = Date.now();
      const key = req.idempotencyKey ? `r:${userId}:${req.idempotencyKey}` : null;
      const again = recent.get(key, now);
      const revocation: Revocation =
        again && 'revocation' in again
          ? again.revocation
          : req.body.jti !== undefined
            ? {
                kind: 'token',
                jti: req.body.jti,
                userId,
                expiresAt: req.body.expiresAt ?? now + DEFAULT_REVOCATION_KEEP_MS,
              }
            : { kind: 'user', userId, before: now };
      await gw.sessionEnds.endEverywhere({ kind: 'revoked', revocation });
      recent.set(key, { revocation }, now);
      return { revocation };
    },
  };
  return [presence, disconnect, revoke] as ApiRoute[];
};
