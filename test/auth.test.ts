/**
 * The gateway's synchronous JWT check (node:crypto) against tokens minted by jose, a separate
 * implementation: what it accepts, and every way a token is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { parseConfig } from '../src/config/load.ts';
import { AuthError } from '../src/errors.ts';
import { Authenticator, mintToken } from '../src/gateway/auth.ts';

const SECRET = 'unit-test-secret-of-enough-length';

function authFor(auth: Record<string, unknown>): Authenticator {
  const config = parseConfig({
    regions: [{ name: 'test', id: 1, gateway: { host: '127.0.0.1', port: 0 } }],
    auth,
  });
  return new Authenticator(config.auth);
}

function refuses(a: Authenticator, token: string | null, why: RegExp): void {
  assert.throws(
    () => a.verifySync(token),
    (err: unknown) => err instanceof AuthError && why.test(err.message),
  );
}

const hs = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = { alg: 'HS256' }) =>
  new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(new TextEncoder().encode(SECRET));

describe('Authenticator.verifySync', () => {
  const a = authFor({ secret: SECRET });

  it('accepts a valid HS256 token and returns its subject and expiry', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const id = a.verifySync(await hs({ sub: 'alice', exp }));
    assert.deepEqual(id, { userId: 'alice', expiresAt: exp * 1000 });
    assert.equal(a.verifySync(await mintToken(SECRET, 'bob', 60)).userId, 'bob');
  });

  it('refuses missing, malformed, tampered and wrongly signed tokens', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    refuses(a, null, /missing token/);
    refuses(a, '', /missing token/);
    refuses(a, 'a.b', /compact JWS/);
    refuses(a, '!!.e30.sig', /header is not base64url/);
    refuses(a, `${Buffer.from('nope').toString('base64url')}.e30.x`, /header is not JSON/);
    const good = await hs({ sub: 'alice', exp });
    const [h, p, s] = good.split('.') as [string, string, string];
    const otherPayload = Buffer.from(JSON.stringify({ sub: 'mallory', exp })).toString('base64url');
    refuses(a, `${h}.${otherPayload}.${s}`, /signature verification failed/);
    refuses(a, `${h}.${p}.${s.slice(0, -2)}AA`, /signature verification failed/);
    refuses(a, `${h}.${p}.`, /signature verification failed/);
    const wrongKey = await new SignJWT({ sub: 'alice', exp })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('another-secret-of-enough-length'));
    refuses(a, wrongKey, /signature verification failed/);
  });

  it('refuses algorithms not configured, including none, and critical headers', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', exp })).toString('base64url')}.`;
    refuses(a, none, /algorithm none not accepted/);
    const { privateKey } = await generateKeyPair('RS256');
    const rs = await new SignJWT({ sub: 'alice', exp }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    refuses(a, rs, /algorithm RS256 not accepted/);
    refuses(
      a,
      await hs({ sub: 'alice', exp }, { alg: 'HS256', crit: ['b64'], b64: true }),
      /critical header/,
    );
  });

  it('checks exp, nbf, sub, issuer and audience', async () => {
    const now = Math.floor(Date.now() / 1000);
    refuses(a, await hs({ sub: 'alice' }), /exp missing/);
    refuses(a, await hs({ sub: 'alice', exp: now - 1 }), /"exp" claim/);
    refuses(a, await hs({ sub: 'alice', exp: now + 60, nbf: now + 30 }), /"nbf" claim/);
    assert.equal(a.verifySync(await hs({ sub: 'alice', exp: now + 60, nbf: now - 1 })).userId, 'alice');
    refuses(a, await hs({ exp: now + 60 }), /sub must match/);
    refuses(a, await hs({ sub: 'not valid!', exp: now + 60 }), /sub must match/);

    const strict = authFor({ secret: SECRET, issuer: 'https://id.example', audience: 'chat' });
    const ok = await hs({ sub: 'alice', exp: now + 60, iss: 'https://id.example', aud: ['other', 'chat'] });
    assert.equal(strict.verifySync(ok).userId, 'alice');
    refuses(strict, await hs({ sub: 'alice', exp: now + 60, iss: 'https://evil', aud: 'chat' }), /"iss"/);
    refuses(strict, await hs({ sub: 'alice', exp: now + 60, iss: 'https://id.example', aud: 'x' }), /"aud"/);
    refuses(strict, await hs({ sub: 'alice', exp: now + 60, iss: 'https://id.example' }), /"aud"/);
  });

  for (const alg of ['RS256', 'ES256'] as const) {
    it(`verifies ${alg} with a public key and refuses a token signed by another key`, async () => {
      const exp = Math.floor(Date.now() / 1000) + 600;
      const { publicKey, privateKey } = await generateKeyPair(alg);
      const other = await generateKeyPair(alg);
      const asym = authFor({ publicKey: await exportSPKI(publicKey), algorithms: [alg] });
      const sign = (key: typeof privateKey) =>
        new SignJWT({ sub: 'ann', exp }).setProtectedHeader({ alg }).sign(key);
      assert.equal(asym.verifySync(await sign(privateKey)).userId, 'ann');
      refuses(asym, await sign(other.privateKey), /signature verification failed/);
      refuses(asym, await mintToken(SECRET, 'ann', 60), /algorithm HS256 not accepted/);
    });
  }

  it('refuses an ES256 token when the configured key is RSA', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const mixed = authFor({ publicKey: await exportSPKI(rsa.publicKey), algorithms: ['RS256', 'ES256'] });
    const es = await new SignJWT({ sub: 'ann', exp })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(ec.privateKey);
    refuses(mixed, es, /ES256 needs a P-256/);
  });
});
