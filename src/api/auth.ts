/**
 * Who may call the server API: an operator's API key (`api.keys`, sent as
 * `Authorization: Bearer <key>`, compared in constant time against every key so the time taken
 * says nothing about which one nearly matched), or a JWT signed with the deployment's auth key
 * whose `api.adminClaim` claim is `true` (checked with jose, and against the revocation list).
 */
import { createHash, createPublicKey, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { jwtVerify } from 'jose';
import type { ApiConfig, AuthConfig } from '../config/schema.ts';
import type { Identity } from '../gateway/auth.ts';
import { ChatError, ErrorCode, isUserId } from '../protocol/index.ts';
import type { ApiPrincipal } from './route.ts';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class ApiAuth {
  /** Digests of the keys: equal lengths for `timingSafeEqual`, whatever the keys' lengths. */
  private readonly keys: { name: string; digest: Buffer }[];
  private readonly jwtKey: KeyObject | null;

  constructor(
    private readonly api: ApiConfig,
    private readonly auth: AuthConfig,
    private readonly revoked: (id: Identity) => boolean = () => false,
  ) {
    this.keys = Object.entries(api.keys).map(([name, key]) => ({ name, digest: sha256(key) }));
    this.jwtKey = auth.secret
      ? createSecretKey(Buffer.from(auth.secret, 'utf8'))
      : auth.publicKey
        ? createPublicKey(auth.publicKey)
        : null;
  }

  /** False when no key is configured: the API is off and answers 404. */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The caller of a request with this `Authorization` header; `unauthorized` otherwise. */
  async authenticate(authorization: string | undefined): Promise<ApiPrincipal> {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    if (!token) throw unauthorized('send Authorization: Bearer <API key or admin token>');
    const presented = sha256(token);
    let match: string | null = null;
    for (const k of this.keys) if (timingSafeEqual(presented, k.digest) && match === null) match = k.name;
    if (match !== null) return { kind: 'api-key', id: match };
    // Not a key; an admin JWT has three dot-separated parts (a key may be anything else).
    if (token.split('.').length === 3 && this.jwtKey) return this.adminToken(token);
    throw unauthorized('unknown API key');
  }

  private async adminToken(token: string): Promise<ApiPrincipal> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.jwtKey!, {
        algorithms: [...this.auth.algorithms],
        ...(this.auth.issuer !== undefined ? { issuer: this.auth.issuer } : {}),
        ...(this.auth.audience !== undefined ? { audience: this.auth.audience } : {}),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (cause) {
      throw new ChatError(ErrorCode.Unauthorized, 'invalid token', undefined, { cause });
    }
    const sub = payload.sub;
    if (!isUserId(sub)) throw unauthorized('token sub must match [A-Za-z0-9_-]{1,64}');
    if (payload[this.api.adminClaim] !== true)
      throw unauthorized(`token has no "${this.api.adminClaim}" claim`);
    const identity: Identity = { userId: sub, expiresAt: Number(payload.exp) * 1000 };
    if (typeof payload.jti === 'string') identity.jti = payload.jti;
    if (typeof payload.iat === 'number') identity.issuedAt = payload.iat * 1000;
    if (this.revoked(identity)) throw unauthorized('token revoked');
    return { kind: 'admin-jwt', id: sub };
  }
}

function unauthorized(message: string): ChatError {
  return new ChatError(ErrorCode.Unauthorized, message);
}
