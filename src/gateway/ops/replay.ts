/**
 * Replay: what a (re)connecting client missed — its offline queue plus, from its resume position,
 * every message of its conversations made visible since then (by id, and from the late index for
 * messages made visible long after their id was minted) — merged, deduplicated, capped, written in
 * id order with backpressure; then the live frames held back meanwhile, minus those replayed.
 * Runs on connect (`Sessions`) and for `sync`; `ack` removes delivered offline-queue entries.
 * The legacy `since` (a message id) still works as before: ids above it, no late index.
 * docs/protocol.md, "Resume positions", says what a position promises and why this covers it.
 */

import type { ResumePosition, SyncedFrame } from '../../protocol/index.ts';
import { LATE_MS, type StoredMessage } from '../../storage/types.ts';
import { snowflakeFloor, snowflakeTime } from '../../util/snowflake.ts';
import type { ClientConnection, ConnectionState } from '../connection.ts';
import {
  REPLAY_HIGH_WATER_BYTES,
  REPLAY_HISTORY_PAGE,
  REPLAY_LATE_PAGE,
  REPLAY_OFFLINE_PAGE,
} from '../constants.ts';
import { messageFrame, toWire, updateFrame } from '../frames.ts';
import { type Refs, refIds } from '../refs.ts';
import { Collected } from './replay-collect.ts';
import type { HandlersFor, OpsContext } from './types.ts';

/** How long after a replay live copies of replayed messages are dropped (see ConnectionState). */
const RECENTLY_REPLAYED_MS = 10_000;

/**
 * Where a replay starts. `position` (a token the client got from a `pos` or a `synced`) wins
 * over `since` (legacy: the newest message id the client saw). Neither: the offline queue only.
 */
export interface ReplayFrom {
  position: ResumePosition | null;
  since: bigint | null;
}

export class Replay {
  constructor(private readonly d: OpsContext) {}

  readonly handlers: HandlersFor<'sync' | 'ack'> = {
    sync: (state, f) => this.replay(state, { position: f.position, since: f.since }, f.id),
    ack: async (state, f) => {
      const acked = f.messageIds.filter((id) => state.pendingQueueAcks?.delete(id) === true);
      if (acked.length > 0) {
        await this.d.storage.ackOffline(state.conn.userId, acked);
        this.d.metrics.offlineAcked.inc(acked.length);
      }
      return null;
    },
  };

  /**
   * Replays to one connection and answers with `synced` (`requestId` null on connect; a server
   * that resyncs a connection itself calls this with the connection's last position). Live
   * deliveries are held from the first line (the hub sees `syncing`) until the end, and sent just
   * before `synced`, each with its own `pos`.
   */
  async replay(state: ConnectionState, from: ReplayFrom, requestId: string | null): Promise<SyncedFrame> {
    state.beginSync();
    const replayed = new Set<string>();
    try {
      // Taken before the first read: whatever becomes visible from here on either is read below
      // or arrives live (held until the end), so `synced` can promise everything before it.
      const start = Date.now();
      const userId = state.conn.userId;
      const position = from.position;
      const collected = new Collected(this.d.limits.maxResumeMessages, position?.afterId ?? null);
      const queued = await this.collectOffline(userId, collected, position?.afterId ?? null);
      if (position) await this.collectFromPosition(userId, position, collected);
      else if (from.since !== null) {
        const conversations = await this.d.storage.listUserConversationIds(userId);
        await this.collectById(conversations, from.since, collected);
      }
      const { ordered, truncated } = collected.result();
      for (const m of ordered) if (queued.has(m.messageId)) state.expectAck(m.messageId);
      const written = await this.write(state.conn, ordered, replayed);
      return {
        op: 'synced',
        id: requestId,
        ...written,
        truncated,
        position: this.synced(start, from, truncated ? written.lastId : null),
      };
    } finally {
      this.flushHeld(state, replayed);
    }
  }

  /**
   * The position `synced` hands out. A complete replay: its start. A truncated one continues from
   * the same clock (the position's own `T`; for a legacy `since`, the time of that id, which reads
   * at least every id above it) skipping what was sent.
   */
  private synced(start: number, from: ReplayFrom, lastId: string | null): string {
    const v = this.d.visibility;
    if (lastId === null) return v.token(start);
    const after = BigInt(lastId);
    if (from.position) {
      const p = from.position;
      return v.token(p.t, after, p.region);
    }
    return v.token(from.since !== null ? snowflakeTime(from.since) : start, after);
  }

  /** The user's offline queue, oldest first, up to the cap; returns the ids it holds. */
  private async collectOffline(userId: string, c: Collected, afterId: bigint | null): Promise<Set<bigint>> {
    const ids = new Set<bigint>();
    let after = afterId ?? undefined;
    for (;;) {
      const page = await this.d.storage.listOffline(userId, REPLAY_OFFLINE_PAGE, after);
      for (const m of page) if (c.add(m)) ids.add(m.messageId);
      if (page.length < REPLAY_OFFLINE_PAGE) break;
      if (ids.size >= c.cap) {
        c.markMore();
        break;
      }
      after = page[page.length - 1]!.messageId;
    }
    c.trim();
    return ids;
  }

  /**
   * From a position (T, afterId) issued by `region`: with D the lookback (plus the cross-region
   * one when the device moved here from another region), every message with an id minted since
   * T − D − LATE_MS (a message that is not late was minted at most LATE_MS before it became
   * visible), and every late one made visible since T − D (the late index).
   */
  private async collectFromPosition(userId: string, p: ResumePosition, c: Collected): Promise<void> {
    const cfg = this.d.resume;
    const lookback = cfg.lookbackMs + (p.region === this.d.visibility.region ? 0 : cfg.crossRegionLookbackMs);
    const since = p.t - lookback;
    const floor = snowflakeFloor(since - LATE_MS);
    // `after` is exclusive: the floor itself (an id of exactly that ms, sequence 0) is included.
    const after = floor > 0n ? floor - 1n : 0n;
    const conversations = await this.d.storage.listUserConversationIds(userId);
    for (const convId of conversations) await this.collectLate(convId, since, c);
    await this.collectById(conversations, p.afterId !== null && p.afterId > after ? p.afterId : after, c);
  }

  /**
   * A conversation's late arrivals made visible since `sinceVisibleAt` into `c`. They come in
   * visibility order, not id order, so every one is read (as many as were made visible late
   * since then, e.g. a region's backlog after an outage); the collector keeps only the cap
   * smallest ids, page by page, so memory stays bounded.
   */
  private async collectLate(convId: string, sinceVisibleAt: number, c: Collected): Promise<void> {
    let cursor = sinceVisibleAt;
    for (;;) {
      const page = await this.d.storage.listLate(convId, cursor, REPLAY_LATE_PAGE);
      for (const e of page) c.add(e.message);
      c.trim();
      if (page.length < REPLAY_LATE_PAGE) return;
      // `sinceVisibleAt` is inclusive: the next page starts at the last time (re-reading its
      // entries, merged by id). A full page all at one ms cannot advance: the rest of that ms
      // is not read (it would take a region applying 200 messages of one conversation within a
      // millisecond); say so.
      const last = page[page.length - 1]!.visibleAt;
      if (last === cursor) {
        this.d.log.error({ conversationId: convId, visibleAt: last }, 'late index page did not advance');
        return;
      }
      cursor = last;
    }
  }

  /**
   * Every message with an id above `after` in each of the user's conversations (ascending, page
   * by page), until each conversation is read or past what can still make the cap.
   */
  private async collectById(conversations: readonly string[], after: bigint, c: Collected): Promise<void> {
    for (const convId of conversations) {
      let cursor = after;
      let taken = 0;
      for (;;) {
        // Change records too: edits and deletes travel in the stream (resolved in `write`).
        const page = await this.d.storage.getHistory(convId, {
          after: cursor,
          limit: REPLAY_HISTORY_PAGE,
          includeChanges: true,
        });
        for (const m of page) if (c.add(m)) taken++;
        if (page.length < REPLAY_HISTORY_PAGE) break;
        cursor = page[page.length - 1]!.messageId;
        const ceiling = c.ceiling;
        if (ceiling !== null && cursor >= ceiling) break;
        if (taken >= c.cap) {
          c.markMore();
          break;
        }
      }
      c.trim();
    }
  }

  /**
   * Writes the messages as `replay` frames, pausing while the socket's buffer is above the high
   * water mark; stops if the connection closes. Every id written goes into `replayed`. A change
   * record is written as an `update` with its target's state read now, never as itself: so an
   * edit replayed after a delete shows the delete, and no old body comes back.
   */
  private async write(
    conn: ClientConnection,
    ordered: StoredMessage[],
    replayed: Set<string>,
  ): Promise<{ count: number; lastId: string | null }> {
    let count = 0;
    let lastId: bigint | null = null;
    const targets = new Map<bigint, StoredMessage | null>();
    for (const m of ordered) {
      if (conn.closed) break;
      if (m.change) {
        const target = await this.target(m, targets);
        // A target this region lacks cannot be (changes are applied after their target); if it
        // ever were, the client has nothing to update.
        if (target) conn.sendFrame(updateFrame(m, target, true, undefined, await this.refs(target, targets)));
      } else conn.sendFrame(messageFrame(toWire(m, await this.refs(m, targets)), true));
      this.d.metrics.framesOut.inc();
      this.d.metrics.messagesDelivered.inc({ path: 'replay' });
      replayed.add(m.messageId.toString());
      count++;
      lastId = m.messageId;
      if (conn.bufferedAmount() > REPLAY_HIGH_WATER_BYTES) await conn.waitForDrain();
    }
    return { count, lastId: lastId?.toString() ?? null };
  }

  /**
   * What a reply refers to (its parent's quote, its root's summary), read now, once per replay:
   * a replayed reply quotes its parent as it is now and carries the root's count after catch-up.
   */
  private async refs(m: StoredMessage, seen: Map<bigint, StoredMessage | null>): Promise<Refs> {
    const refs = new Map<bigint, StoredMessage>();
    for (const id of refIds(m)) {
      if (!seen.has(id)) seen.set(id, await this.d.storage.getMessage(m.conversationId, id));
      const found = seen.get(id);
      if (found) refs.set(id, found);
    }
    return refs;
  }

  /** The current state of a change record's target, read once per replay. */
  private async target(
    record: StoredMessage,
    seen: Map<bigint, StoredMessage | null>,
  ): Promise<StoredMessage | null> {
    const id = record.change!.targetId;
    if (seen.has(id)) return seen.get(id) ?? null;
    const target = await this.d.storage.getMessage(record.conversationId, id);
    seen.set(id, target);
    return target;
  }

  /**
   * Ends the replay (also when it failed): remembers what it sent for a while, then sends the
   * live frames held back meanwhile, minus the messages it already sent.
   */
  private flushHeld(state: ConnectionState, replayed: Set<string>): void {
    const conn = state.conn;
    state.syncing = false;
    if (replayed.size > 0) {
      state.recentlyReplayed = replayed;
      setTimeout(() => {
        if (state.recentlyReplayed === replayed) state.recentlyReplayed = null;
      }, RECENTLY_REPLAYED_MS).unref();
    }
    const held = state.buffered ?? [];
    state.buffered = null;
    for (const routed of held) {
      if (routed.kind === 'message' && replayed.has(routed.messageId)) continue;
      if (!conn.closed) {
        conn.sendRouted(routed);
        this.d.hub.recordDelivered(1, routed);
      }
    }
  }
}
