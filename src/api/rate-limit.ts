/**
 * The server API's rate limit: a token bucket per caller (an API key by name, an admin token by
 * its subject), so one backend in a loop cannot take a gateway's whole capacity from the others.
 * A refused call is `rate_limited` (429) with `retryAfterMs`, which the handler turns into a
 * `Retry-After` header.
 */
import { TokenBucket } from '../gateway/rate-limit.ts';
import { ChatError, ErrorCode } from '../protocol/index.ts';
import type { ApiPrincipal } from './route.ts';

/**
 * Callers are few (configured keys, operators' tokens); the cap only bounds memory if many
 * distinct admin subjects call. The oldest bucket is dropped first (its caller starts full).
 */
const MAX_CALLERS = 10_000;

export class ApiRateLimit {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one call from the caller's bucket; throws `rate_limited` when it is empty. */
  admit(principal: ApiPrincipal): void {
    const key = `${principal.kind}:${principal.id}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_CALLERS) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = new TokenBucket(this.perSec, this.burst, this.now);
      this.buckets.set(key, bucket);
    }
    if (bucket.take()) return;
    throw new ChatError(ErrorCode.RateLimited, `over ${this.perSec} calls per second for this caller`, {
      retryAfterMs: bucket.msUntilToken(),
    });
  }
}
