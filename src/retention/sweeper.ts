/**
 * The retention sweeper: now and then walks every conversation of the region's store and removes
 * the messages older than its period (`RetentionPolicy`), with every copy and attachment
 * (`RetentionStore.expireConversation`). Each region sweeps its own store (periods replicate;
 * removals need not). Reads hide expired messages before the sweeper gets to them
 * (`retaining-storage.ts`), so the interval only bounds how long their rows stay.
 */
import type { RemovalReport, RetentionStore } from '../storage/retention.ts';
import type { Logger } from '../util/log.ts';
import type { RetentionPolicy } from './policy.ts';

/** Conversations read per page of the walk. */
const PAGE = 500;

export interface SweepResult {
  conversations: number;
  /** Messages removed. */
  removed: number;
}

export interface SweeperDeps {
  store: RetentionStore;
  policy: RetentionPolicy;
  intervalMs: number;
  log: Logger;
  /** What was removed from one conversation (the stream-erasure seam; metrics). */
  onRemoved?: (conversationId: string, report: RemovalReport) => Promise<void>;
  now?: () => number;
}

export class RetentionSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepResult> | null = null;

  constructor(private readonly d: SweeperDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => {
        this.d.log.warn({ err }, 'retention sweep failed; the next round retries');
      });
    }, this.d.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One walk of every conversation; a sweep already running is joined, not doubled. */
  sweep(): Promise<SweepResult> {
    this.running ??= this.walk().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async walk(): Promise<SweepResult> {
    const now = this.d.now ?? Date.now;
    const result: SweepResult = { conversations: 0, removed: 0 };
    let after: string | null = null;
    do {
      const page = await this.d.store.listConversations(after, PAGE);
      for (const conversationId of page.conversationIds) {
        result.conversations++;
        const seconds = await this.d.policy.periodOf(conversationId);
        if (seconds <= 0) continue;
        const report = await this.d.store.expireConversation(conversationId, now() - seconds * 1000);
        if (report.messageIds.length === 0 && Object.keys(report.tables).length === 0) continue;
        result.removed += report.messageIds.length;
        await this.d.onRemoved?.(conversationId, report);
      }
      after = page.next;
    } while (after !== null);
    if (result.removed > 0) this.d.log.info(result, `retention: removed ${result.removed} expired messages`);
    return result;
  }
}
