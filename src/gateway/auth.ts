/** JWT verification at upgrade time (HS256 with a secret, RS256/ES256 with a public key). */
import {
  createHmac,
  createPublicKey,
  createSecretKey,
  verify as cryptoVerify,
  type KeyObject,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto';
import { SignJWT } from 'jose';
import type { AuthConfig } from '../config/schema.ts';
import { AuthError } from '../errors.ts';
import { isUserId } from '../protocol/index.ts';

export interface Identity {
  userId: string;
  /** Token expiry (ms since epoch); the session is closed 4401 when it passes. */
  expiresAt: number;
  /** The token's `jti`, when it has one: what revoking a single token names. */
  jti?: string;
  /** The token's `iat` (ms, second precision), when it has one: what a user's revocation compares. */
  issuedAt?: number;
}

/** Says whether a verified token was revoked since (`RevocationList.isRevoked`). */
export type RevocationCheck = (identity: Identity) => boolean;

/** Signature algorithms a deployment may accept, and how node:crypto checks each. */
type Algorithm = AuthConfig['algorithms'][number];

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodeJson(part: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(part)) throw new AuthError(`invalid token: ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AuthError(`invalid token: ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AuthError(`invalid token: ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Verifies JWTs synchronously with node:crypto (compact JWS; HS256, RS256, ES256), so the
 * gateway can answer a WebSocket upgrade inside uWS's own handler. An asynchronous check would
 * need `res.cork(() => res.upgrade(…))` later, which in the uWebSockets.js build we use
 * (v20.30) now and then closes the new socket right after `open` (fixed upstream in
 * uWebSockets "Fix upgrade async with cork", after that build); without the cork, uWS prints a
 * warning per upgrade.
 */
export class Authenticator {
  private readonly hmac: KeyObject | null;
  private readonly pub: KeyObject | null;

  constructor(
    private readonly config: AuthConfig,
    private readonly revoked: RevocationCheck = () => false,
  ) {
    this.hmac = config.secret ? createSecretKey(Buffer.from(config.secret, 'utf8')) : null;
    this.pub = config.publicKey ? createPublicKey(config.publicKey) : null;
    if (this.pub) {
      const type = this.pub.asymmetricKeyType;
      if (type !== 'rsa' && type !== 'ec') {
        throw new AuthError(`auth.publicKey: expected an RSA or EC public key, got ${String(type)}`);
      }
    }
  }

  /** Verifies a token; throws `AuthError` for anything but a valid, unexpired token with a good `sub`. */
  verifySync(token: string | null): Identity {
    if (!token) throw new AuthError('missing token');
    const parts = token.split('.');
    if (parts.length !== 3) throw new AuthError('invalid token: not a compact JWS');
    const [h, p, sig] = parts as [string, string, string];
    const header = decodeJson(h, 'header');
    const alg = header.alg;
    if (typeof alg !== 'string' || !(this.config.algorithms as readonly string[]).includes(alg)) {
      throw new AuthError(`invalid token: algorithm ${String(alg)} not accepted`);
    }
    if ('crit' in header) throw new AuthError('invalid token: critical header parameters are not supported');
    if (!BASE64URL.test(sig)) throw new AuthError('invalid token: signature is not base64url');
    if (!this.signatureValid(alg as Algorithm, `${h}.${p}`, Buffer.from(sig, 'base64url'))) {
      throw new AuthError('invalid token: signature verification failed');
    }
    const claims = decodeJson(p, 'payload');
    const now = Math.floor(Date.now() / 1000);
    const { exp, nbf, sub, iss, aud } = claims;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new AuthError('invalid token: exp missing');
    if (exp <= now) throw new AuthError('invalid token: "exp" claim timestamp check failed');
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) {
      throw new AuthError('invalid token: "nbf" claim timestamp check failed');
    }
    if (this.config.issuer !== undefined && iss !== this.config.issuer) {
      throw new AuthError('invalid token: unexpected "iss" claim value');
    }
    if (this.config.audience !== undefined) {
      const audiences = Array.isArray(aud) ? aud : [aud];
      if (!audiences.includes(this.config.audience)) {
        throw new AuthError('invalid token: unexpected "aud" claim value');
      }
    }
    if (!isUserId(sub)) throw new AuthError('token sub must match [A-Za-z0-9_-]{1,64}');
    const identity: Identity = { userId: sub, expiresAt: exp * 1000 };
    if (typeof claims.jti === 'string' && claims.jti.length > 0) identity.jti = claims.jti;
    if (typeof claims.iat === 'number' && Number.isFinite(claims.iat)) identity.issuedAt = claims.iat * 1000;
    if (this.revoked(identity)) throw new AuthError('token revoked');
    return identity;
  }

  /** `verifySync` for callers that are asynchronous anyway (the Socket.IO handshake). */
  async verify(token: string | null): Promise<Identity> {
    return this.verifySync(token);
  }

  private signatureValid(alg: Algorithm, signingInput: string, signature: Buffer): boolean {
    const data = Buffer.from(signingInput, 'ascii');
    switch (alg) {
      case 'HS256': {
        if (!this.hmac) throw new AuthError('invalid token: HS256 is not configured (no secret)');
        const expected = createHmac('sha256', this.hmac).update(data).digest();
        return expected.length === signature.length && timingSafeEqual(expected, signature);
      }
      case 'RS256':
        if (this.pub?.asymmetricKeyType !== 'rsa') {
          throw new AuthError('invalid token: RS256 needs an RSA auth.publicKey');
        }
        return cryptoVerify('sha256', data, this.pub, signature);
      case 'ES256': {
        const details = this.pub?.asymmetricKeyDetails;
        if (this.pub?.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
          throw new AuthError('invalid token: ES256 needs a P-256 auth.publicKey');
        }
        // JWS carries ES256 signatures as raw r‖s (64 bytes), not DER.
        if (signature.length !== 64) return false;
        return cryptoVerify('sha256', data, { key: this.pub, dsaEncoding: 'ieee-p1363' }, signature);
      }
    }
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
  // A `jti` on every token, so that one token can be revoked without the user's others.
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(createSecretKey(Buffer.from(secret, 'utf8')));
}
