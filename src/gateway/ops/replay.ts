/**
 * Replay: what a (re)connecting client missed — its offline queue plus, when it says the last id
 * it saw, every later message of its conversations — merged, deduplicated, capped, written in id
 * order with backpressure; then the live frames held back meanwhile, minus those replayed.
 * Runs on connect (`Sessions`) and for `sync`; `ack` removes delivered offline-queue entries.
 */

import type { SyncedFrame } from '../../protocol/index.ts';
import type { StoredMessage } from '../../storage/types.ts';
import type { ClientConnection, ConnectionState } from '../connection.ts';
import { REPLAY_HIGH_WATER_BYTES, REPLAY_HISTORY_PAGE, REPLAY_OFFLINE_PAGE } from '../constants.ts';
import { messageFrame, toWire } from '../frames.ts';
import type { HandlersFor, OpsContext } from './types.ts';

/** How long after a replay live copies of replayed messages are dropped (see ConnectionState). */
const RECENTLY_REPLAYED_MS = 10_000;

/** Messages collected for a replay, by id (the queue and the history overlap). */
type Collected = Map<bigint, StoredMessage>;

export class Replay {
  constructor(private readonly d: OpsContext) {}

  readonly handlers: HandlersFor<'sync' | 'ack'> = {
    sync: (state, f) => this.replay(state, f.since, f.id),
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
   * Replays to one connection and answers with `synced` (`requestId` null on connect). Live
   * deliveries are held from the first line (the hub sees `syncing`) until the end.
   */
  async replay(state: ConnectionState, since: bigint | null, requestId: string | null): Promise<SyncedFrame> {
    state.syncing = true;
    const replayed = new Set<string>();
    try {
      const cap = this.d.limits.maxResumeMessages;
      const byId: Collected = new Map();
      let truncated = await this.collectOffline(state, cap, byId);
      if (since !== null)
        truncated = (await this.collectSince(state.conn.userId, since, cap, byId)) || truncated;
      const ordered = oldest(byId, cap);
      truncated ||= ordered.length < byId.size;
      const written = await this.write(state.conn, ordered, replayed);
      return { op: 'synced', id: requestId, ...written, truncated };
    } finally {
      this.flushHeld(state, replayed);
    }
  }

  /**
   * The user's offline queue, page by page (in id order), up to `cap` entries; each then awaits
   * the client's ack. True if entries were left unread.
   */
  private async collectOffline(state: ConnectionState, cap: number, byId: Collected): Promise<boolean> {
    let after: bigint | undefined;
    for (;;) {
      const page = await this.d.storage.listOffline(state.conn.userId, REPLAY_OFFLINE_PAGE, after);
      for (const m of page) {
        byId.set(m.messageId, m);
        state.expectAck(m.messageId);
      }
      if (page.length < REPLAY_OFFLINE_PAGE) return false;
      if (byId.size >= cap) return true;
      after = page[page.length - 1]!.messageId;
    }
  }

  /**
   * Every message after `since` in each of the user's conversations, keeping the `cap` oldest
   * of everything collected: a truncated replay holds the oldest of what was missed, so a `sync`
   * from its `lastId` continues without a gap (stopping at the first conversations read would
   * skip older messages of the others for good). A conversation is read only up to the newest
   * id kept. True if anything was left out.
   */
  private async collectSince(userId: string, since: bigint, cap: number, byId: Collected): Promise<boolean> {
    /** Once something was left out: the newest id kept. Anything newer is left out too. */
    let ceiling: bigint | null = null;
    let leftOut = false;
    const trim = () => {
      if (byId.size <= cap) return;
      const kept = oldest(byId, cap);
      byId.clear();
      for (const m of kept) byId.set(m.messageId, m);
      ceiling = kept[kept.length - 1]!.messageId;
      leftOut = true;
    };
    for (const convId of await this.d.storage.listUserConversationIds(userId)) {
      let cursor = since;
      for (;;) {
        const page = await this.d.storage.getHistory(convId, { after: cursor, limit: REPLAY_HISTORY_PAGE });
        for (const m of page) {
          if (ceiling === null || m.messageId <= ceiling) byId.set(m.messageId, m);
          else leftOut = true;
        }
        if (page.length < REPLAY_HISTORY_PAGE) break;
        cursor = page[page.length - 1]!.messageId;
        if (byId.size >= 2 * cap) trim();
        if (ceiling !== null && cursor >= ceiling) break;
      }
      trim();
    }
    return leftOut;
  }

  /**
   * Writes the messages as `replay` frames, pausing while the socket's buffer is above the high
   * water mark; stops if the connection closes. Every id written goes into `replayed`.
   */
  private async write(
    conn: ClientConnection,
    ordered: StoredMessage[],
    replayed: Set<string>,
  ): Promise<{ count: number; lastId: string | null }> {
    let count = 0;
    let lastId: bigint | null = null;
    for (const m of ordered) {
      if (conn.closed) break;
      const wire = toWire(m);
      conn.sendFrame(messageFrame(wire, true));
      this.d.metrics.framesOut.inc();
      this.d.metrics.messagesDelivered.inc({ path: 'replay' });
      replayed.add(wire.id);
      count++;
      lastId = m.messageId;
      if (conn.bufferedAmount() > REPLAY_HIGH_WATER_BYTES) await conn.waitForDrain();
    }
    return { count, lastId: lastId?.toString() ?? null };
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

/** The `cap` oldest messages, in id order (the client resumes from the last one). */
function oldest(byId: Collected, cap: number): StoredMessage[] {
  const ordered = [...byId.values()].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
  if (ordered.length > cap) ordered.length = cap;
  return ordered;
}
