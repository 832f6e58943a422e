/**
 * Incoming messages: drops ones already delivered (by id), holds them back while a replay runs
 * and then releases them in id order, and tracks the newest id seen for the next resume.
 */
import { compareIds, LruSet, maxId } from './ids.ts';
import type { WireMessage } from './types.ts';

/**
 * Enough for a burst of live traffic overlapping a full replay. A duplicate older than this many
 * ids can slip through; that can only happen after a very long replay.
 */
export const DEFAULT_DEDUP_CAPACITY = 10_000;

export interface InboxOptions {
  dedupCapacity?: number;
  lastSeenId?: string | null;
  /** Called for every message that is new, in order. */
  deliver: (message: WireMessage, replay: boolean) => void;
}

export class Inbox {
  private readonly seen: LruSet;
  private replays = 0;
  /** Messages held back while a replay runs, by id. */
  private held = new Map<string, { message: WireMessage; replay: boolean }>();
  /** Ids that arrived with `replay: true` since the replays began: they are acked afterwards. */
  private toAck = new Set<string>();
  private newest: string | null;

  constructor(private readonly opts: InboxOptions) {
    this.seen = new LruSet(opts.dedupCapacity ?? DEFAULT_DEDUP_CAPACITY);
    this.newest = opts.lastSeenId ?? null;
  }

  /** The newest message id delivered so far (what the next connect passes as `since`). */
  get lastSeenId(): string | null {
    return this.newest;
  }

  /** Raises `lastSeenId` (e.g. from storage); never lowers it. */
  restoreLastSeenId(id: string | null): void {
    this.newest = maxId(this.newest, id);
  }

  get replaying(): boolean {
    return this.replays > 0;
  }

  /** A replay started (on connect, or a `sync` request). Nested replays end together. */
  beginReplay(): void {
    this.replays++;
  }

  /** Remembers a message this device sent itself, so a replay of it is not delivered as new. */
  markSeen(id: string): void {
    this.seen.add(id);
  }

  receive(message: WireMessage, replay: boolean): void {
    if (replay) this.toAck.add(message.id);
    if (this.seen.has(message.id) || this.held.has(message.id)) return;
    if (this.replays > 0) {
      this.held.set(message.id, { message, replay });
      return;
    }
    this.deliver(message, replay);
  }

  /**
   * One replay ended. When it was the last one running, delivers what was held back in id order
   * and returns the replayed ids to ack (after delivery, so an ack never precedes the app seeing
   * the message); otherwise returns an empty list.
   */
  endReplay(): string[] {
    if (this.replays === 0) return [];
    this.replays--;
    if (this.replays > 0) return [];
    const held = [...this.held.values()].sort((a, b) => compareIds(a.message.id, b.message.id));
    this.held = new Map();
    for (const { message, replay } of held) {
      // A listener may have caused a sync that delivered it meanwhile.
      if (!this.seen.has(message.id)) this.deliver(message, replay);
    }
    const acks = [...this.toAck];
    this.toAck = new Set();
    return acks;
  }

  /**
   * The connection dropped mid-replay: forget what was held (the next connect replays it again,
   * from the unchanged `lastSeenId`) and what was to be acked (it stays queued on the server).
   */
  abortReplays(): void {
    this.replays = 0;
    this.held = new Map();
    this.toAck = new Set();
  }

  private deliver(message: WireMessage, replay: boolean): void {
    this.seen.add(message.id);
    this.newest = maxId(this.newest, message.id);
    this.opts.deliver(message, replay);
  }
}
