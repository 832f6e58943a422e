/**
 * The webhook queue on LMDB, for `npm start` (one gateway, no NATS): items, dead letters and
 * recently delivered ids in their own environment under the data directory. Writes resolve once
 * committed and flushed (`durable`). Leases of items handed out live in memory: the only gateway
 * using this directory is this process, and after a crash every unsettled item is due again.
 * `next` scans the queue (small in practice: a single node's backlog).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { durable } from '../storage/embedded-durable.ts';
import type { DeadLetter, QueueTiming, WebhookDelivery, WebhookItem, WebhookQueue } from './queue.ts';

/** Like the JetStream stream's duplicate window: an id delivered within it is not queued again. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;

interface QueuedRecord {
  item: WebhookItem;
  /** Hand-outs so far. */
  attempt: number;
  /** Not handed out before this time (ms). */
  dueAt: number;
  /** Insertion order, to hand out the oldest due first. */
  seq: number;
}

export interface EmbeddedQueueOptions extends QueueTiming {
  /** The gateway's data directory; the queue lives in `<dataDir>/webhooks`. */
  dataDir: string;
}

export class EmbeddedWebhookQueue implements WebhookQueue {
  private root: RootDatabase | null = null;
  private queue: Database<QueuedRecord, string> | null = null;
  private dead: Database<DeadLetter, string> | null = null;
  /** Item id → when its delivery was settled (ack or dead), for the duplicate window. */
  private done: Database<number, string> | null = null;
  /** Item id → lease end (ms) while handed out. */
  private readonly leases = new Map<string, number>();
  /** Every queued item's id → when it is due and its order: the table's index, kept in step. */
  private readonly pending = new Map<string, { dueAt: number; seq: number }>();
  private readonly waiters = new Set<() => void>();
  private seq = 0;
  private closing = false;

  constructor(private readonly opts: EmbeddedQueueOptions) {}

  async start(): Promise<void> {
    if (this.root) return;
    const dir = path.join(this.opts.dataDir, 'webhooks');
    mkdirSync(dir, { recursive: true });
    this.root = open({ path: dir, compression: false, noSubdir: false });
    this.queue = this.root.openDB<QueuedRecord, string>({ name: 'queue' });
    this.dead = this.root.openDB<DeadLetter, string>({ name: 'dead' });
    this.done = this.root.openDB<number, string>({ name: 'done' });
    for (const { value } of this.queue.getRange()) {
      this.seq = Math.max(this.seq, value.seq);
      this.pending.set(value.item.id, { dueAt: value.dueAt, seq: value.seq });
    }
    const cutoff = Date.now() - DUPLICATE_WINDOW_MS;
    await durable(
      this.root,
      this.root.transaction(() => {
        for (const { key, value } of this.need(this.done).getRange()) {
          if (value < cutoff) this.need(this.done).remove(key);
        }
      }),
    );
  }

  async enqueue(items: readonly WebhookItem[]): Promise<void> {
    const queue = this.need(this.queue);
    const done = this.need(this.done);
    const cutoff = Date.now() - DUPLICATE_WINDOW_MS;
    const now = Date.now();
    const added = await durable(
      this.root,
      this.need(this.root).transaction(() => {
        const fresh: QueuedRecord[] = [];
        for (const item of items) {
          if (queue.get(item.id) !== undefined) continue;
          const settled = done.get(item.id);
          if (settled !== undefined && settled >= cutoff) continue;
          const rec = { item, attempt: 0, dueAt: now, seq: ++this.seq };
          queue.put(item.id, rec);
          fresh.push(rec);
        }
        return fresh;
      }),
    );
    // Indexed once committed: `next` never hands out an item a crash could still lose.
    for (const rec of added) this.pending.set(rec.item.id, { dueAt: rec.dueAt, seq: rec.seq });
    if (added.length > 0) this.wake();
  }

  async next(waitMs: number): Promise<WebhookDelivery | null> {
    const until = Date.now() + waitMs;
    for (;;) {
      if (this.closing) return null;
      const now = Date.now();
      const { due, soonest } = this.findDue(now);
      if (due) return this.handOut(due, now);
      const left = until - now;
      if (left <= 0) return null;
      await this.waitFor(Math.min(left, soonest - now));
    }
  }

  async depth(): Promise<number> {
    this.need(this.queue);
    return this.pending.size;
  }

  async listDead(limit: number): Promise<DeadLetter[]> {
    const letters = [...this.need(this.dead).getRange()].map((e) => e.value);
    letters.sort((a, b) => a.deadAt - b.deadAt);
    return letters.slice(0, limit);
  }

  async deadCount(): Promise<number> {
    return this.need(this.dead).getCount();
  }

  async replayDead(id: string): Promise<boolean> {
    const dead = this.need(this.dead);
    const queue = this.need(this.queue);
    const replayed = await durable(
      this.root,
      this.need(this.root).transaction(() => {
        const letter = dead.get(id);
        if (!letter) return null;
        dead.remove(id);
        const rec = { item: letter.item, attempt: 0, dueAt: Date.now(), seq: ++this.seq };
        queue.put(id, rec);
        return rec;
      }),
    );
    if (!replayed) return false;
    this.pending.set(id, { dueAt: replayed.dueAt, seq: replayed.seq });
    this.wake();
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wake();
    const root = this.root;
    this.root = null;
    await root?.close();
  }

  /** The oldest item due and not leased, and when the next one falls due (for the wait). */
  private findDue(now: number): { due: QueuedRecord | null; soonest: number } {
    let dueId: string | null = null;
    let dueSeq = Number.POSITIVE_INFINITY;
    let soonest = Number.POSITIVE_INFINITY;
    for (const [id, p] of this.pending) {
      const at = Math.max(p.dueAt, this.leases.get(id) ?? 0);
      if (at <= now) {
        if (p.seq < dueSeq) {
          dueId = id;
          dueSeq = p.seq;
        }
      } else soonest = Math.min(soonest, at);
    }
    if (dueId === null) return { due: null, soonest };
    const due = this.need(this.queue).get(dueId) ?? null;
    // Not in the table (cannot happen while the index is kept in step): drop it from the index.
    if (!due) this.pending.delete(dueId);
    return { due, soonest: due ? soonest : now };
  }

  private async handOut(rec: QueuedRecord, now: number): Promise<WebhookDelivery> {
    const id = rec.item.id;
    const attempt = rec.attempt + 1;
    this.leases.set(id, now + this.opts.ackWaitMs);
    await this.need(this.queue).put(id, { ...rec, attempt });
    const settle = async (write: () => void, dueAt: number | null) => {
      await durable(this.root, this.need(this.root).transaction(write));
      this.leases.delete(id);
      if (dueAt === null) this.pending.delete(id);
      else this.pending.set(id, { dueAt, seq: rec.seq });
      this.wake();
    };
    return {
      item: rec.item,
      attempt,
      ack: () =>
        settle(() => {
          this.need(this.queue).remove(id);
          this.need(this.done).put(id, Date.now());
        }, null),
      retry: (delayMs) => {
        const dueAt = Date.now() + delayMs;
        return settle(() => {
          const cur = this.need(this.queue).get(id);
          if (cur) this.need(this.queue).put(id, { ...cur, dueAt });
        }, dueAt);
      },
      dead: (lastError) =>
        settle(() => {
          this.need(this.queue).remove(id);
          this.need(this.done).put(id, Date.now());
          this.need(this.dead).put(id, { item: rec.item, attempts: attempt, lastError, deadAt: Date.now() });
        }, null),
    };
  }

  private waitFor(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private need<T>(v: T | null): T {
    if (!v) throw new Error('webhook queue not started');
    return v;
  }
}
