/**
 * Home regions: where a user's offline queue lives and which region answers for them when they
 * are offline. Every region must agree without asking anyone, so the answer is a pure function
 * of the shared config: an explicit pin from `directory.pins`, else rendezvous hashing of the
 * user id over the region names (adding a region moves only the users it wins; removing one
 * moves only its own users).
 */
import { createHash } from 'node:crypto';

export interface DirectoryConfig {
  pins: Readonly<Record<string, string>>;
}

export class Directory {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly regions: readonly string[],
    private readonly config: DirectoryConfig = { pins: {} },
  ) {
    if (regions.length === 0) throw new RangeError('Directory needs at least one region');
  }

  homeOf(userId: string): string {
    const pinned = this.config.pins[userId];
    if (pinned !== undefined && this.regions.includes(pinned)) return pinned;
    const hit = this.cache.get(userId);
    if (hit) return hit;
    let best = this.regions[0]!;
    let bestScore = -1n;
    for (const region of this.regions) {
      const digest = createHash('sha256').update(region).update('\0').update(userId).digest();
      const score = digest.readBigUInt64BE(0);
      if (score > bestScore) {
        bestScore = score;
        best = region;
      }
    }
    if (this.cache.size > 200_000) this.cache.clear();
    this.cache.set(userId, best);
    return best;
  }
}
