/**
 * Whom each user blocks, cached like the membership cache: `send` in a direct conversation asks
 * whether the other user blocks the sender, and that must not cost a store read per message.
 * Every change drops the entry here (made on this gateway), on the region's other gateways (the
 * router's `blocks_changed` control event) and in other regions (replication's sink).
 */
import type { Storage } from '../../storage/types.ts';

/** Past this many cached users the cache starts over rather than grow without bound. */
const MAX_CACHED_USERS = 100_000;

interface Entry {
  blocked: ReadonlySet<string>;
  expiresAt: number;
}

export class BlockCache {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly storage: Storage,
    /** Entry lifetime (the membership cache's); 0 reads the store every time. */
    private readonly ttlMs: number,
  ) {}

  /** True if `userId` blocks `targetId`. */
  async blocks(userId: string, targetId: string): Promise<boolean> {
    return (await this.load(userId)).has(targetId);
  }

  invalidate(userId: string): void {
    this.cache.delete(userId);
  }

  private async load(userId: string): Promise<ReadonlySet<string>> {
    const hit = this.cache.get(userId);
    if (hit && hit.expiresAt > Date.now()) return hit.blocked;
    const blocked = new Set(await this.storage.moderation.listBlocked(userId));
    if (this.ttlMs > 0) {
      if (this.cache.size > MAX_CACHED_USERS) this.cache.clear();
      this.cache.set(userId, { blocked, expiresAt: Date.now() + this.ttlMs });
    }
    return blocked;
  }
}
