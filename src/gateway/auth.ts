/** JWT verification at upgrade time (HS256 with a secret, RS256/ES256 with a public key). */
import { createSecretKey, type KeyObject, type webcrypto } from 'node:crypto';
import { importSPKI, jwtVerify, SignJWT } from 'jose';
import type { AuthConfig } from '../config/schema.ts';
import { AuthError } from '../errors.ts';
import { isUserId } from './protocol.ts';

export interface Identity {
  userId: string;
  /** Token expiry (ms since epoch); the session is closed 4401 when it passes. */
  expiresAt: number;
}

export class Authenticator {
  private readonly keys: Promise<{ hmac: KeyObject | null; pub: KeyObject | webcrypto.CryptoKey | null }>;

  constructor(private readonly config: AuthConfig) {
    this.keys = (async () => {
      const hmac = config.secret ? createSecretKey(Buffer.from(config.secret, 'utf8')) : null;
      let pub: KeyObject | webcrypto.CryptoKey | null = null;
      if (config.publicKey) {
        const alg = config.algorithms.find((a) => a !== 'HS256') ?? 'RS256';
        pub = await importSPKI(config.publicKey, alg);
      }
      return { hmac, pub };
    })();
  }

  /** Verifies a token; throws `AuthError` for anything but a valid, unexpired token with a good `sub`. */
  async verify(token: string | null): Promise<Identity> {
    if (!token) throw new AuthError('missing token');
    const { hmac, pub } = await this.keys;
    let payload: { sub?: string; exp?: number };
    try {
      const result = await jwtVerify(
        token,
        async (header) => {
          if (header.alg === 'HS256' && hmac) return hmac;
          if (header.alg !== 'HS256' && pub) return pub;
          throw new AuthError(`algorithm ${String(header.alg)} not accepted`);
        },
        {
          algorithms: this.config.algorithms,
          requiredClaims: ['exp', 'sub'],
          ...(this.config.issuer ? { issuer: this.config.issuer } : {}),
          ...(this.config.audience ? { audience: this.config.audience } : {}),
        },
      );
      payload = result.payload;
    } catch (cause) {
      throw new AuthError(`invalid token: ${(cause as Error).message}`, { cause });
    }
    if (!isUserId(payload.sub)) throw new AuthError('token sub must match [A-Za-z0-9_-]{1,64}');
    return { userId: payload.sub, expiresAt: (payload.exp ?? 0) * 1000 };
  }

  /** Mints an HS256 token (dev token endpoint and tests). */
  async mint(userId: string, ttlSec: number): Promise<string> {
    if (!this.config.secret) throw new AuthError('no HS256 secret configured');
    return mintToken(this.config.secret, userId, ttlSec, this.config);
  }
}

export async function mintToken(
  secret: string,
  userId: string,
  ttlSec: number,
  opts: { issuer?: string | undefined; audience?: string | undefined } = {},
): Promise<string> {
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(createSecretKey(Buffer.from(secret, 'utf8')));
}
