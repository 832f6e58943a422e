/**
 * The chat operations, independent of transport: both the raw WebSocket endpoint and the
 * Socket.IO endpoint call `handle` with a parsed frame and send back what it returns.
 */
import { randomUUID } from 'node:crypto';
import type { LimitsConfig } from '../config/schema.ts';
import { ChatError, ErrorCode } from '../errors.ts';
import type { Presence, PresenceInfo } from '../presence/types.ts';
import {
  directConversationId,
  directParticipants,
  type ParsedClientFrame,
  type ParsedRequestOf,
  type PresenceResult,
  type ReplyFrame,
  type ReplyOf,
  resultFrame,
  type SyncedFrame,
  type WireConversation,
  type WireMessage,
} from '../protocol/index.ts';
import type { Routed } from '../routing/types.ts';
import type { Conversation, Storage, StoredMessage } from '../storage/types.ts';
import { settleWithin } from '../util/deadline.ts';
import type { Logger } from '../util/log.ts';
import type { SnowflakeGenerator } from '../util/snowflake.ts';
import type { ConnectionState } from './connection.ts';
import { REPLAY_HIGH_WATER_BYTES, REPLAY_HISTORY_PAGE, REPLAY_OFFLINE_PAGE } from './constants.ts';
import type { Hub } from './hub.ts';
import type { GatewayMetrics } from './metrics.ts';
import { OrderedDelivery } from './ordered-delivery.ts';
import type { PresenceWatchers } from './presence-watchers.ts';
import { liveMessage, routedEvent } from './routed.ts';

export function toWire(m: StoredMessage): WireMessage {
  return {
    id: m.messageId.toString(),
    conversationId: m.conversationId,
    senderId: m.senderId,
    clientMsgId: m.clientMsgId,
    body: m.body,
    createdAt: m.createdAt,
  };
}

function wireConversation(c: Conversation, members: Iterable<string>): WireConversation {
  return { ...c, members: [...members].sort() };
}

/** In the order asked; `Presence.getPresence` answers for every user asked (unknown ones offline). */
function presenceResult(userIds: string[], infos: Map<string, PresenceInfo>): PresenceResult {
  return { users: userIds.map((u) => infos.get(u)!) };
}

interface CachedMembers {
  conversation: Conversation;
  members: Set<string>;
  expiresAt: number;
}

/** How long after a replay live copies of replayed messages are dropped (see ConnectionState). */
const RECENTLY_REPLAYED_MS = 10_000;

export interface ChatServiceDeps {
  storage: Storage;
  presence: Presence;
  hub: Hub;
  watchers: PresenceWatchers;
  ids: SnowflakeGenerator;
  metrics: GatewayMetrics;
  limits: LimitsConfig;
  log: Logger;
  /**
   * With several regions, only a user's home region queues for them (other regions' copies
   * reach the home region through replication). Absent: every user is local.
   */
  isHome?: (userId: string) => boolean;
}

export class ChatService {
  private readonly cache = new Map<string, CachedMembers>();
  private readonly ordering = new OrderedDelivery();
  private readonly inFlight = new Set<Promise<unknown>>();
  private draining = false;
  private sendsInFlight = 0;

  constructor(private readonly d: ChatServiceDeps) {}

  /** Forgets the cached members of a conversation another gateway or region changed. */
  invalidateMembers(conversationId: string): void {
    this.cache.delete(conversationId);
  }

  /** Stop taking new sends (SIGTERM) and wait for the ones in flight, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const all = Promise.allSettled([...this.inFlight]);
    await settleWithin(all, timeoutMs, undefined);
  }

  /** Handles one request frame; returns the reply frame, or null for frames with no reply. */
  async handle(state: ConnectionState, frame: ParsedClientFrame): Promise<ReplyFrame | null> {
    const userId = state.conn.userId;
    switch (frame.op) {
      case 'send': {
        if (this.sendsInFlight >= this.d.limits.maxInFlightSends) {
          throw new ChatError(ErrorCode.Unavailable, 'gateway overloaded; retry with the same clientMsgId', {
            retryAfterMs: 100,
          });
        }
        this.sendsInFlight++;
        try {
          return await this.track(this.send(state, frame));
        } finally {
          this.sendsInFlight--;
        }
      }
      case 'openDirect': {
        if (frame.userId === userId)
          throw new ChatError(ErrorCode.InvalidField, 'userId: cannot open a conversation with yourself', {
            field: 'userId',
          });
        const c = await this.ensureDirect(directConversationId(userId, frame.userId), userId);
        return resultFrame(frame.op, frame.id, { conversation: wireConversation(c.conversation, c.members) });
      }
      case 'createGroup':
        return resultFrame(frame.op, frame.id, {
          conversation: await this.createGroup(userId, frame.title, frame.members),
        });
      case 'addMembers':
      case 'removeMembers':
        return resultFrame(frame.op, frame.id, { conversation: await this.changeMembers(userId, frame) });
      case 'listConversations': {
        const list = await this.d.storage.listUserConversations(userId);
        return resultFrame(frame.op, frame.id, {
          conversations: list.map((s) => ({
            ...s.conversation,
            lastMessage: s.lastMessage ? toWire(s.lastMessage) : null,
            unreadCount: s.unreadCount,
            lastReadId: s.lastReadId?.toString() ?? null,
          })),
        });
      }
      case 'history': {
        await this.requireMember(frame.conversationId, userId);
        const query = {
          limit: frame.limit + 1,
          ...(frame.before !== null ? { before: frame.before } : {}),
          ...(frame.after !== null ? { after: frame.after } : {}),
        };
        const page = await this.d.storage.getHistory(frame.conversationId, query);
        const hasMore = page.length > frame.limit;
        return resultFrame(frame.op, frame.id, {
          order: frame.after !== null ? 'oldest_first' : 'newest_first',
          messages: page.slice(0, frame.limit).map(toWire),
          hasMore,
        });
      }
      case 'read': {
        const members = await this.requireMember(frame.conversationId, userId);
        await this.d.storage.markRead(userId, frame.conversationId, frame.messageId);
        const receipt = routedEvent({
          op: 'receipt',
          conversationId: frame.conversationId,
          userId,
          messageId: frame.messageId.toString(),
        });
        this.background('receipt', this.d.hub.fanOut([...members.members], receipt, state.conn.connectionId));
        return resultFrame(frame.op, frame.id, { ok: true });
      }
      case 'ack': {
        const acked = frame.messageIds.filter((id) => state.pendingQueueAcks?.delete(id) === true);
        if (acked.length > 0) {
          await this.d.storage.ackOffline(userId, acked);
          this.d.metrics.offlineAcked.inc(acked.length);
        }
        return null;
      }
      case 'sync':
        return this.sync(state, frame.since, frame.id);
      case 'presence': {
        const infos = await this.d.presence.getPresence(frame.userIds);
        return resultFrame(frame.op, frame.id, presenceResult(frame.userIds, infos));
      }
      case 'subscribePresence':
        return this.subscribePresence(state, frame);
      case 'unsubscribePresence':
        this.d.watchers.remove(state, frame.userIds);
        return resultFrame(frame.op, frame.id, { ok: true });
      case 'setAway':
        await this.d.presence.setAway(userId, state.conn.connectionId, frame.away);
        return resultFrame(frame.op, frame.id, { ok: true });
      case 'typing':
        return this.typing(state, frame);
      case 'ping':
        return { op: 'pong', id: frame.id, serverTime: Date.now() };
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    p.finally(() => this.inFlight.delete(p)).catch(() => {});
    return p;
  }

  private background(stage: string, p: Promise<unknown>): void {
    this.track(p).catch((err) => {
      this.d.metrics.backgroundFailures.inc({ stage });
      this.d.log.error({ err, stage }, `background ${stage} failed`);
    });
  }

  // ---- presence and typing -------------------------------------------------------------

  /**
   * Subscribes, then reads a snapshot. Events for this connection are held from before the
   * read until the reply is out, so the client never sees the snapshot after a newer event.
   */
  private async subscribePresence(
    state: ConnectionState,
    f: ParsedRequestOf<'subscribePresence'>,
  ): Promise<ReplyOf<'subscribePresence'>> {
    const added = this.d.watchers.add(state, f.userIds);
    this.d.watchers.hold(state);
    try {
      const infos = await this.d.presence.getPresence(f.userIds);
      return resultFrame(f.op, f.id, presenceResult(f.userIds, infos));
    } catch (err) {
      this.d.watchers.remove(state, added);
      throw err;
    } finally {
      // The transport sends the reply in this promise's continuation (a microtask); a
      // macrotask runs only after it, so held events follow the snapshot.
      setImmediate(() => this.d.watchers.release(state));
    }
  }

  /**
   * Fans a typing indicator out to the members' connections (except this one). Ephemeral:
   * never stored or queued. At most one per conversation per `typingIntervalMs` per
   * connection; extra ones are coalesced into the one already sent (its `expiresAt` covers
   * them) and answered like a delivered one, with `coalesced: true`.
   */
  private async typing(
    state: ConnectionState,
    f: ParsedRequestOf<'typing'>,
  ): Promise<ReplyOf<'typing'> | null> {
    const { typingIntervalMs, typingTtlMs } = this.d.limits;
    const now = Date.now();
    const typingAt = state.typingTimes();
    const last = typingAt.get(f.conversationId);
    if (last !== undefined && now - last < typingIntervalMs) {
      return f.id === null
        ? null
        : resultFrame(f.op, f.id, { ok: true, coalesced: true, expiresAt: last + typingTtlMs });
    }
    const userId = state.conn.userId;
    // A direct conversation's members are in its id; typing the first message of one must show
    // before `send` creates it, and typing never creates it.
    const dm = directParticipants(f.conversationId);
    const members =
      dm && (dm[0] === userId || dm[1] === userId)
        ? dm
        : [...(await this.requireMember(f.conversationId, userId)).members];
    if (typingAt.size >= 64) {
      for (const [conv, at] of typingAt) if (now - at >= typingIntervalMs) typingAt.delete(conv);
    }
    typingAt.set(f.conversationId, now);
    const expiresAt = now + typingTtlMs;
    const routed = routedEvent({ op: 'typing', conversationId: f.conversationId, userId, expiresAt });
    this.background('typing', this.d.hub.fanOut(members, routed, state.conn.connectionId));
    return f.id === null ? null : resultFrame(f.op, f.id, { ok: true, coalesced: false, expiresAt });
  }

  // ---- messages ------------------------------------------------------------------------

  private async send(state: ConnectionState, f: ParsedRequestOf<'send'>): Promise<ReplyOf<'send'>> {
    if (this.draining)
      throw new ChatError(ErrorCode.ShuttingDown, 'gateway is shutting down; reconnect and resend');
    const userId = state.conn.userId;
    const dm = directParticipants(f.conversationId);
    const members =
      dm && (dm[0] === userId || dm[1] === userId)
        ? await this.ensureDirect(f.conversationId, userId)
        : await this.requireMember(f.conversationId, userId);
    const messageId = this.d.ids.next();
    const slot = this.ordering.reserve(f.conversationId);
    const msg: StoredMessage = {
      conversationId: f.conversationId,
      messageId,
      senderId: userId,
      clientMsgId: f.clientMsgId,
      body: f.body,
      createdAt: Date.now(),
    };
    let stored: StoredMessage;
    let duplicate: boolean;
    const t0 = performance.now();
    try {
      const res = await this.d.storage.appendMessage(msg);
      stored = res.message;
      duplicate = res.duplicate;
    } catch (cause) {
      slot.cancel();
      throw new ChatError(
        ErrorCode.Unavailable,
        'message could not be stored; resend with the same clientMsgId',
        undefined,
        {
          cause,
        },
      );
    }
    this.d.metrics.storeLatency.observe((performance.now() - t0) / 1000);
    const recipients = [...members.members];
    // Offline members are queued before the sender is acked: an ack means every recipient will
    // get the message, even if this process dies right after sending it. For a duplicate this
    // repeats (idempotently) what a first attempt that died half-way may not have finished.
    let queued: string[];
    try {
      queued = await this.queueForOffline(recipients, stored);
    } catch (cause) {
      slot.cancel();
      throw new ChatError(
        ErrorCode.Unavailable,
        'message stored but not yet queued; resend with the same clientMsgId',
        undefined,
        {
          cause,
        },
      );
    }
    if (duplicate) {
      // Already fanned out when first sent: answer with the original id, deliver nothing live.
      slot.cancel();
      this.d.metrics.duplicates.inc();
    } else {
      this.d.metrics.messagesStored.inc();
      slot.complete(() => {
        const routed = liveMessage(toWire(stored));
        this.background('fanout', this.d.hub.fanOut(recipients, routed, state.conn.connectionId));
        if (queued.length > 0) this.background('offline', this.liveCopyIfOnlineNow(queued, routed));
      });
    }
    return {
      op: 'sent',
      id: f.id,
      messageId: stored.messageId.toString(),
      conversationId: stored.conversationId,
      createdAt: stored.createdAt,
      duplicate,
    };
  }

  /**
   * Delivers a message another region stored and replicated here: live to the members connected
   * in this region, and queued for offline members this region is home to (with the same
   * recheck as a local send).
   */
  async deliverReplicated(message: StoredMessage, members: string[]): Promise<void> {
    const routed = liveMessage(toWire(message));
    await this.d.hub.fanOut(members, routed);
    const queued = await this.queueForOffline(members, message);
    if (queued.length > 0) await this.liveCopyIfOnlineNow(queued, routed);
  }

  /** Queues the message for members with no live connection anywhere; returns who was queued. */
  private async queueForOffline(members: string[], msg: StoredMessage): Promise<string[]> {
    const isHome = this.d.isHome;
    const candidates = members.filter((u) => !this.d.hub.hasLocal(u) && (!isHome || isHome(u)));
    if (candidates.length === 0) return [];
    const online = await this.d.presence.onlineUsers(candidates);
    const offline = candidates.filter((u) => !online.has(u));
    if (offline.length === 0) return [];
    await Promise.all(offline.map((u) => this.d.storage.enqueueOffline(u, [msg])));
    this.d.metrics.offlineEnqueued.inc(offline.length);
    return offline;
  }

  /**
   * After queueing, presence is checked again: a member who connected in between may have drained
   * the queue before the entry landed, so they also get a live copy (clients dedup by id).
   */
  private async liveCopyIfOnlineNow(queued: string[], routed: Routed): Promise<void> {
    const nowOnline = await this.d.presence.onlineUsers(queued);
    if (nowOnline.size > 0) await this.d.hub.fanOut([...nowOnline], routed);
  }

  /**
   * Replays what a (re)connecting client missed: its offline queue plus, when it says the last id
   * it saw, every later message of its conversations. Merged, deduplicated, in id order; live
   * messages arriving meanwhile are held back and sent after, minus those already replayed.
   */
  async sync(state: ConnectionState, since: bigint | null, requestId: string | null): Promise<SyncedFrame> {
    const conn = state.conn;
    state.syncing = true;
    let count = 0;
    let lastId: bigint | null = null;
    let truncated = false;
    const replayed = new Set<string>();
    try {
      const byId = new Map<bigint, StoredMessage>();
      const cap = this.d.limits.maxResumeMessages;
      let after: bigint | undefined;
      for (;;) {
        const page = await this.d.storage.listOffline(conn.userId, REPLAY_OFFLINE_PAGE, after);
        for (const m of page) {
          byId.set(m.messageId, m);
          state.expectAck(m.messageId);
        }
        if (page.length < REPLAY_OFFLINE_PAGE || byId.size >= cap) break;
        after = page[page.length - 1]!.messageId;
      }
      if (since !== null) {
        for (const convId of await this.d.storage.listUserConversationIds(conn.userId)) {
          let cursor = since;
          for (;;) {
            const page = await this.d.storage.getHistory(convId, {
              after: cursor,
              limit: REPLAY_HISTORY_PAGE,
            });
            for (const m of page) byId.set(m.messageId, m);
            if (page.length < REPLAY_HISTORY_PAGE || byId.size >= cap) break;
            cursor = page[page.length - 1]!.messageId;
          }
          if (byId.size >= cap) break;
        }
      }
      const ordered = [...byId.values()].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
      if (ordered.length > cap) {
        truncated = true;
        ordered.length = cap;
      }
      for (const m of ordered) {
        if (conn.closed) break;
        const wire = toWire(m);
        conn.sendFrame({ op: 'message', message: wire, replay: true });
        this.d.metrics.framesOut.inc();
        this.d.metrics.messagesDelivered.inc({ path: 'replay' });
        replayed.add(wire.id);
        count++;
        lastId = m.messageId;
        if (conn.bufferedAmount() > REPLAY_HIGH_WATER_BYTES) await conn.waitForDrain();
      }
    } finally {
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
    return { op: 'synced', id: requestId, count, lastId: lastId?.toString() ?? null, truncated };
  }

  // ---- conversations -------------------------------------------------------------------

  private async loadMembers(conversationId: string): Promise<CachedMembers | null> {
    const hit = this.cache.get(conversationId);
    if (hit && hit.expiresAt > Date.now()) return hit;
    const conversation = await this.d.storage.getConversation(conversationId);
    if (!conversation) {
      this.cache.delete(conversationId);
      return null;
    }
    const members = new Set(await this.d.storage.listMembers(conversationId));
    const entry = { conversation, members, expiresAt: Date.now() + this.d.limits.membershipCacheMs };
    if (this.d.limits.membershipCacheMs > 0) {
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(conversationId, entry);
    }
    return entry;
  }

  private async requireMember(conversationId: string, userId: string): Promise<CachedMembers> {
    const entry = await this.loadMembers(conversationId);
    if (!entry) throw new ChatError(ErrorCode.NotFound, 'no such conversation', { conversationId });
    if (!entry.members.has(userId)) {
      throw new ChatError(ErrorCode.Forbidden, 'not a member of this conversation', { conversationId });
    }
    return entry;
  }

  /** The direct conversation between the two users of `conversationId`, created on first use. */
  private async ensureDirect(conversationId: string, userId: string): Promise<CachedMembers> {
    const existing = await this.loadMembers(conversationId);
    if (existing) return existing;
    const pair = directParticipants(conversationId)!;
    const conversation = await this.d.storage.createConversation(
      { id: conversationId, kind: 'direct', title: null, createdBy: userId, createdAt: Date.now() },
      pair,
    );
    this.cache.delete(conversationId);
    const entry = (await this.loadMembers(conversationId)) ?? {
      conversation,
      members: new Set(pair),
      expiresAt: 0,
    };
    const routed = routedEvent({
      op: 'conversation',
      conversation: wireConversation(conversation, entry.members),
      event: 'created',
    });
    this.background('conversation-event', this.d.hub.conversationChanged(conversationId, pair, routed));
    return entry;
  }

  private async createGroup(userId: string, title: string, invited: string[]): Promise<WireConversation> {
    const members = [...new Set([userId, ...invited])];
    if (members.length > this.d.limits.maxGroupMembers) {
      throw new ChatError(ErrorCode.InvalidField, `members: at most ${this.d.limits.maxGroupMembers}`, {
        field: 'members',
      });
    }
    const conversation = await this.d.storage.createConversation(
      { id: `g:${this.d.ids.next()}`, kind: 'group', title, createdBy: userId, createdAt: Date.now() },
      members,
    );
    const wire = wireConversation(conversation, members);
    const routed = routedEvent({ op: 'conversation', conversation: wire, event: 'created' });
    this.background('conversation-event', this.d.hub.conversationChanged(wire.id, members, routed));
    return wire;
  }

  private async changeMembers(
    userId: string,
    f: ParsedRequestOf<'addMembers' | 'removeMembers'>,
  ): Promise<WireConversation> {
    this.cache.delete(f.conversationId);
    const entry = await this.requireMember(f.conversationId, userId);
    if (entry.conversation.kind === 'direct') {
      throw new ChatError(ErrorCode.Forbidden, 'members of a direct conversation cannot change', {
        conversationId: f.conversationId,
      });
    }
    const before = [...entry.members];
    if (f.op === 'addMembers') {
      const added = f.userIds.filter((u) => !entry.members.has(u));
      if (entry.members.size + added.length > this.d.limits.maxGroupMembers) {
        throw new ChatError(
          ErrorCode.InvalidField,
          `userIds: group would exceed ${this.d.limits.maxGroupMembers}`,
          {
            field: 'userIds',
          },
        );
      }
      if (added.length > 0) await this.d.storage.addMembers(f.conversationId, added);
    } else {
      const others = f.userIds.filter((u) => u !== userId);
      if (others.length > 0 && entry.conversation.createdBy !== userId) {
        throw new ChatError(ErrorCode.Forbidden, 'only the group creator may remove other members', {
          conversationId: f.conversationId,
        });
      }
      await this.d.storage.removeMembers(f.conversationId, f.userIds);
    }
    this.cache.delete(f.conversationId);
    const after = (await this.loadMembers(f.conversationId))!;
    const wire = wireConversation(after.conversation, after.members);
    const event = f.op === 'addMembers' ? 'members_added' : 'members_removed';
    const routed = routedEvent({ op: 'conversation', conversation: wire, event });
    // Everyone before and after hears about it, including the removed.
    this.background(
      'conversation-event',
      this.d.hub.conversationChanged(f.conversationId, [...new Set([...before, ...after.members])], routed),
    );
    return wire;
  }
}

export function newConnectionId(): string {
  return randomUUID();
}
