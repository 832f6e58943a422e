/**
 * Messages sent but not yet acked by the server. Each conversation is a FIFO queue with at most
 * one message on the wire: the server mints ids as it processes frames, and two pipelined sends
 * can finish out of order, so waiting for each `sent` is what keeps the user's order.
 * Different conversations proceed in parallel.
 */
import type { OutboxEntry } from './storage.ts';
import type { WireThread } from './types.ts';

export interface SentInfo {
  clientMsgId: string;
  messageId: string;
  conversationId: string;
  createdAt: number;
  /** True when the server had already stored this clientMsgId (a resend after a reconnect). */
  duplicate: boolean;
  /** On a reply: its thread's root and the root's summary once it was stored (also a `thread` event). */
  threadRoot?: string;
  rootThread?: WireThread;
}

interface Waiter {
  resolve: (info: SentInfo) => void;
  reject: (err: Error) => void;
}

export interface PendingSend {
  readonly entry: OutboxEntry;
  /** Written to storage; only then may it go on the wire. */
  persisted: boolean;
  inFlight: boolean;
  /** Failed attempts (retryable errors, timeouts), for the retry delay. */
  failures: number;
  /**
   * Attempts that may have reached a server. An entry restored from storage starts at 1: an
   * earlier session may have sent it. The first attempt is sent as `attempt: 1`, which lets
   * the server skip looking for an earlier copy (docs/protocol.md, `send`).
   */
  attempts: number;
  /** Not before this time (ms since epoch). */
  retryAt: number;
  waiters: Waiter[];
}

function byQueueOrder(a: OutboxEntry, b: OutboxEntry): number {
  return a.queuedAt - b.queuedAt || a.seq - b.seq;
}

export class Outbox {
  private readonly byId = new Map<string, PendingSend>();
  private readonly queues = new Map<string, PendingSend[]>();

  get size(): number {
    return this.byId.size;
  }

  get(clientMsgId: string): PendingSend | undefined {
    return this.byId.get(clientMsgId);
  }

  entries(): OutboxEntry[] {
    return [...this.byId.values()].map((p) => p.entry).sort(byQueueOrder);
  }

  /** Queues an entry (ignored if its clientMsgId is already queued); returns its pending state. */
  add(entry: OutboxEntry, persisted: boolean): PendingSend {
    const existing = this.byId.get(entry.clientMsgId);
    if (existing) return existing;
    const pending: PendingSend = {
      entry,
      persisted,
      inFlight: false,
      failures: 0,
      attempts: 0,
      retryAt: 0,
      waiters: [],
    };
    this.byId.set(entry.clientMsgId, pending);
    const queue = this.queues.get(entry.conversationId);
    if (!queue) {
      this.queues.set(entry.conversationId, [pending]);
    } else {
      queue.push(pending);
      const last = queue[queue.length - 2];
      // Entries restored from storage can be older than ones queued before the restore finished.
      if (last && byQueueOrder(last.entry, entry) > 0) queue.sort((a, b) => byQueueOrder(a.entry, b.entry));
    }
    return pending;
  }

  /** The head of every conversation's queue that may be sent now. */
  ready(now: number): PendingSend[] {
    const out: PendingSend[] = [];
    for (const queue of this.queues.values()) {
      const head = queue[0];
      if (head?.persisted && !head.inFlight && head.retryAt <= now) out.push(head);
    }
    return out;
  }

  /** The earliest `retryAt` among heads waiting to retry, or null. */
  nextRetryAt(now: number): number | null {
    let next: number | null = null;
    for (const queue of this.queues.values()) {
      const head = queue[0];
      if (head?.persisted && !head.inFlight && head.retryAt > now) {
        next = next === null ? head.retryAt : Math.min(next, head.retryAt);
      }
    }
    return next;
  }

  /** Removes an entry (acked, or failed for good) and returns it. */
  remove(clientMsgId: string): PendingSend | undefined {
    const pending = this.byId.get(clientMsgId);
    if (!pending) return undefined;
    this.byId.delete(clientMsgId);
    const queue = this.queues.get(pending.entry.conversationId);
    if (queue) {
      const i = queue.indexOf(pending);
      if (i >= 0) queue.splice(i, 1);
      if (queue.length === 0) this.queues.delete(pending.entry.conversationId);
    }
    return pending;
  }

  /** The socket dropped: nothing is on the wire any more, everything goes again after reconnect. */
  resetInFlight(): void {
    for (const p of this.byId.values()) {
      p.inFlight = false;
      p.retryAt = 0;
    }
  }

  all(): IterableIterator<PendingSend> {
    return this.byId.values();
  }
}
