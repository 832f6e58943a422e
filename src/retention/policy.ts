/**
 * Which messages have expired: a conversation's own period (`storage.retention`), else the
 * global one (`retention.messagesDays` / `messagesSeconds`). Periods are cached briefly per
 * conversation: reads check every message they return against it, and a changed period only has
 * to take effect within the cache time (the sweeper then removes what it hides).
 */
import type { RetentionStore } from '../storage/retention.ts';

/** How long a conversation's period is trusted before it is read again. */
export const POLICY_CACHE_MS = 10_000;
/** Conversations whose period is cached at once; past it the cache starts over. */
const CACHE_MAX = 100_000;

export class RetentionPolicy {
  private readonly cache = new Map<string, { seconds: number; until: number }>();

  constructor(
    private readonly store: RetentionStore,
    /** Seconds; 0 keeps forever. */
    readonly globalSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The conversation's period in seconds (0: kept forever). */
  async periodOf(conversationId: string): Promise<number> {
    const t = this.now();
    const hit = this.cache.get(conversationId);
    if (hit && hit.until > t) return hit.seconds;
    const own = await this.store.getConversationRetention(conversationId);
    const seconds = own ?? this.globalSeconds;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(conversationId, { seconds, until: t + POLICY_CACHE_MS });
    return seconds;
  }

  /** Messages of the conversation created before this time (ms) have expired; null: none expire. */
  async cutoff(conversationId: string): Promise<number | null> {
    const seconds = await this.periodOf(conversationId);
    return seconds > 0 ? this.now() - seconds * 1000 : null;
  }

  /** Drops the cached period (it was just set here). */
  forget(conversationId: string): void {
    this.cache.delete(conversationId);
  }
}
