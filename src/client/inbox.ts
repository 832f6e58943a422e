/**
 * Incoming messages: drops ones already delivered (by id), holds them back while a replay runs
 * and then releases them in id order, and tracks the newest id seen for the next resume.
 */
import { compareIds, LruSet, maxId } from './ids.ts';
import type { UpdateFrame, WireMessage } from './types.ts';

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
  /**
   * Called for every `update` (edit or delete) that is new, by change id, in order with the
   * messages: a change's id is above its target's, so a replay gives the message first.
   */
  deliverUpdate?: (update: UpdateFrame, replay: boolean) => void;
}

type Held =
  | { message: WireMessage; update?: undefined; replay: boolean }
  | { update: UpdateFrame; replay: boolean };

export class Inbox {
  private readonly seen: LruSet;
  private replays = 0;
  /** Messages held back while a replay runs, by id. */
  private held = new Map<string, Held>();
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
    this.take(message.id, { message, replay });
  }

  /** An `update` frame: deduplicated, held and acked by its change id like a message by its id. */
  receiveUpdate(update: UpdateFrame, replay: boolean): void {
    this.take(update.changeId, { update, replay });
  }

  private take(id: string, item: Held): void {
    if (item.replay) this.toAck.add(id);
    if (this.seen.has(id) || this.held.has(id)) return;
    if (this.replays > 0) {
      this.held.set(id, item);
      return;
    }
    this.deliver(id, item);
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
    const held = [...this.held.entries()].sort(([a], [b]) => compareIds(a, b));
    this.held = new Map();
    for (const [id, item] of held) {
      // A listener may have caused a sync that delivered it meanwhile.
      if (!this.seen.has(id)) this.deliver(id, item);
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

  private deliver(id: string, item: Held): void {
    this.seen.add(id);
    // A change's id is a position in the conversation's stream like a message's.
    this.newest = maxId(this.newest, id);
    if (item.update) this.opts.deliverUpdate?.(item.update, item.replay);
    else this.opts.deliver(item.message, item.replay);
  }
}
