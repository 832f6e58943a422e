/**
 * Revocations as a gateway applies them: the in-memory list checked at connect, which sessions a
 * revocation or a disconnect ends, the control event carrying them, and the API keys from the
 * environment.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEnv, resolveStartup } from '../src/config/env.ts';
import { authSchema } from '../src/config/schema.ts';
import { AuthError } from '../src/errors.ts';
import { Authenticator, mintToken } from '../src/gateway/auth.ts';
import { endsSession, RevocationList } from '../src/gateway/revocations.ts';
import { decodeControl, encodeControl } from '../src/routing/envelope.ts';
import type { ControlEvent } from '../src/routing/types.ts';

const SECRET = 'test-secret-at-least-16-chars';

describe('RevocationList', () => {
  it('revokes a token by jti, and a user’s tokens issued at or before a time (second precision)', () => {
    const list = new RevocationList();
    const t = 1_700_000_000_500;
    list.add({ kind: 'token', jti: 'j1', userId: 'alice', expiresAt: t + 60_000 });
    list.add({ kind: 'user', userId: 'bob', before: t });
    assert.equal(list.isRevoked({ userId: 'alice', expiresAt: 0, jti: 'j1' }), true);
    assert.equal(list.isRevoked({ userId: 'alice', expiresAt: 0, jti: 'j2', issuedAt: 0 }), false);
    assert.equal(list.isRevoked({ userId: 'bob', expiresAt: 0, issuedAt: 1_700_000_000_000 }), true);
    assert.equal(list.isRevoked({ userId: 'bob', expiresAt: 0, issuedAt: 1_700_000_001_000 }), false);
    assert.equal(list.isRevoked({ userId: 'bob', expiresAt: 0 }), true, 'no iat: revoked');
    // A later revocation wins; an earlier one arriving late changes nothing.
    list.add({ kind: 'user', userId: 'bob', before: t + 5000 });
    list.add({ kind: 'user', userId: 'bob', before: t - 5000 });
    assert.equal(list.isRevoked({ userId: 'bob', expiresAt: 0, issuedAt: 1_700_000_004_000 }), true);
    assert.deepEqual(list.merge([{ kind: 'user', userId: 'bob', before: t }], t), [], 'nothing new');
    const fresh = { kind: 'user', userId: 'dan', before: t } as const;
    assert.deepEqual(list.merge([fresh], t), [fresh], 'a revocation whose push was lost');
    list.merge([], t + 120_000);
    assert.equal(list.isRevoked({ userId: 'alice', expiresAt: 0, jti: 'j1' }), false, 'expired entries go');
  });

  it('ends the sessions a revocation or a disconnect covers, and no others', () => {
    const key = (userId: string, jti: string, iatSec: number, openedAt: number) => ({
      identity: { userId, expiresAt: 0, jti, issuedAt: iatSec * 1000 },
      openedAt,
    });
    const a1 = key('alice', 'j1', 100, 100_500);
    const a2 = key('alice', 'j2', 200, 200_500);
    const token = {
      kind: 'revoked',
      revocation: { kind: 'token', jti: 'j1', userId: 'alice', expiresAt: 1e15 },
    } as const;
    assert.equal(endsSession(token, 'alice', a1), true);
    assert.equal(endsSession(token, 'alice', a2), false);
    assert.equal(endsSession(token, 'bob', key('bob', 'j1', 100, 0)), false);
    const user = { kind: 'revoked', revocation: { kind: 'user', userId: 'alice', before: 150_000 } } as const;
    assert.equal(endsSession(user, 'alice', a1), true);
    assert.equal(endsSession(user, 'alice', a2), false);
    const dc = { kind: 'disconnect', userId: 'alice', at: 150_000 } as const;
    assert.equal(endsSession(dc, 'alice', a1), true);
    assert.equal(endsSession(dc, 'alice', a2), false, 'opened after the disconnect');
  });

  it('is checked by the authenticator; minted tokens carry a jti', async () => {
    const list = new RevocationList();
    const auth = new Authenticator(authSchema.parse({ secret: SECRET }), (id) => list.isRevoked(id));
    const tok = await mintToken(SECRET, 'carol', 60);
    const id = auth.verifySync(tok);
    assert.ok(id.jti);
    assert.ok(id.issuedAt);
    list.add({ kind: 'token', jti: id.jti!, userId: 'carol', expiresAt: Date.now() + 60_000 });
    assert.throws(() => auth.verifySync(tok), AuthError);
  });
});

describe('sessions_ended control events', () => {
  it('round-trip, and malformed ones are refused', () => {
    const events: ControlEvent[] = [
      { type: 'sessions_ended', end: { kind: 'disconnect', userId: 'alice', at: 5 } },
      {
        type: 'sessions_ended',
        end: { kind: 'revoked', revocation: { kind: 'user', userId: 'bob', before: 7 } },
      },
      { type: 'members_changed', conversationId: 'g:1' },
    ];
    for (const e of events) assert.deepEqual(decodeControl(encodeControl(e)), e);
    for (const bad of [
      { type: 'sessions_ended', end: { kind: 'disconnect', userId: 'not a user', at: 5 } },
      { type: 'sessions_ended', end: { kind: 'revoked', revocation: { kind: 'token', userId: 'bob' } } },
      { type: 'sessions_ended' },
    ]) {
      assert.throws(() => decodeControl(JSON.stringify(bad)));
    }
  });
});

describe('CHAT_API_KEYS', () => {
  it('sets api.keys from name:key pairs and refuses short keys', () => {
    const key = 'x'.repeat(24);
    const startup = resolveStartup(parseEnv({ CHAT_API_KEYS: `backend:${key},ops:${key}y` }));
    assert.deepEqual(startup.config.api.keys, { backend: key, ops: `${key}y` });
    assert.throws(() => parseEnv({ CHAT_API_KEYS: 'backend:short' }), /CHAT_API_KEYS/);
  });
});
