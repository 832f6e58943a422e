/**
 * Replication between regions, on top of the JetStream link (`xregion.ts`): every region keeps a
 * full copy of every conversation, so any region can serve any user's history and replay when
 * their home region is down. The origin region stores and acks; the event reaches the others
 * through the outbox → inbox path, and each applies it idempotently to its own store, then
 * delivers to its own connected users and queues for the offline users it is home to.
 */

import type { Directory } from '../config/directory.ts';
import { fromRecord, type MessageRecord, toRecord } from '../storage/common.ts';
import type { Conversation, Storage, StoredMessage } from '../storage/types.ts';
import type { CrossRegionBacklog, CrossRegionLink } from './xregion.ts';

export type ConversationEvent = 'created' | 'members_added' | 'members_removed';

/** What the gateway does with an applied event: deliver it to its users. */
export interface ReplicationSink {
  deliverMessage(message: StoredMessage, members: string[]): Promise<void>;
  deliverConversation(
    conversation: Conversation,
    members: string[],
    event: ConversationEvent,
    audience: string[],
  ): Promise<void>;
  deliverReceipt(userId: string, conversationId: string, messageId: bigint, members: string[]): Promise<void>;
}

type WireEvent =
  | { k: 'm'; msg: MessageRecord }
  | { k: 'c'; conv: Conversation; event: ConversationEvent; changed: string[] }
  | { k: 'r'; userId: string; conversationId: string; messageId: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A bounded memory of applied event ids: redeliveries within it skip the live fan-out again. */
class RecentIds {
  private readonly set = new Set<string>();
  constructor(private readonly max: number) {}
  seen(id: string): boolean {
    if (this.set.has(id)) return true;
    this.set.add(id);
    if (this.set.size > this.max) {
      const oldest = this.set.values().next().value;
      if (oldest !== undefined) this.set.delete(oldest);
    }
    return false;
  }
}

export class Replication {
  private readonly recent = new RecentIds(50_000);
  private readonly changeSeq = new Map<string, number>();

  constructor(
    readonly region: string,
    private readonly link: CrossRegionLink,
    private readonly directory: Directory,
    /** The region's own store; applying writes here directly, never republishing. */
    private readonly storage: Storage,
  ) {}

  /** The replication backlog per peer region, read from JetStream (see `CrossRegionLink.backlog`). */
  backlog(timeoutMs?: number): Promise<CrossRegionBacklog> {
    return this.link.backlog(timeoutMs);
  }

  /** True if this region holds the user's offline queue. */
  isHome(userId: string): boolean {
    return this.directory.homeOf(userId) === this.region;
  }

  homeOf(userId: string): string {
    return this.directory.homeOf(userId);
  }

  /** Durably hands a stored message to every other region (resolves once the outbox has it). */
  message(message: StoredMessage): Promise<void> {
    const event: WireEvent = { k: 'm', msg: toRecord(message) };
    return this.link.publish(encoder.encode(JSON.stringify(event)), `m:${message.messageId}`);
  }

  conversation(
    conversation: Conversation,
    event: ConversationEvent,
    changed: readonly string[],
  ): Promise<void> {
    const wire: WireEvent = { k: 'c', conv: conversation, event, changed: [...changed] };
    // Each change is its own event; the id only has to be unique per change.
    const seq = (this.changeSeq.get(conversation.id) ?? 0) + 1;
    this.changeSeq.set(conversation.id, seq);
    return this.link.publish(
      encoder.encode(JSON.stringify(wire)),
      `c:${conversation.id}:${event}:${Date.now()}:${seq}:${changed.join(',')}`,
    );
  }

  read(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    const wire: WireEvent = { k: 'r', userId, conversationId, messageId: messageId.toString() };
    return this.link.publish(
      encoder.encode(JSON.stringify(wire)),
      `r:${userId}:${conversationId}:${messageId}`,
    );
  }

  /** Starts applying other regions' events to this region's store and users. */
  start(sink: ReplicationSink): Promise<void> {
    return this.link.consume((data, meta) =>
      this.apply(JSON.parse(decoder.decode(data)) as WireEvent, meta.msgId, sink),
    );
  }

  private async apply(e: WireEvent, msgId: string, sink: ReplicationSink): Promise<void> {
    const again = msgId !== '' && this.recent.seen(msgId);
    switch (e.k) {
      case 'm': {
        const message = fromRecord(e.msg);
        // The conversation's `created` event was published before any of its messages, from the
        // same region, through the same ordered stream; if it is still missing, retry later.
        if (!(await this.storage.getConversation(message.conversationId))) {
          throw new Error(`conversation ${message.conversationId} not replicated yet`);
        }
        await this.storage.putReplica(message);
        if (!again)
          await sink.deliverMessage(message, await this.storage.listMembers(message.conversationId));
        return;
      }
      case 'c': {
        const initial = e.event === 'created' ? e.changed : [];
        await this.storage.createConversation(e.conv, initial);
        if (e.event === 'members_added' && e.changed.length > 0)
          await this.storage.addMembers(e.conv.id, e.changed);
        if (e.event === 'members_removed' && e.changed.length > 0) {
          await this.storage.removeMembers(e.conv.id, e.changed);
        }
        if (!again) {
          const members = await this.storage.listMembers(e.conv.id);
          // The removed hear about their removal too.
          const audience = e.event === 'members_removed' ? [...new Set([...members, ...e.changed])] : members;
          await sink.deliverConversation(e.conv, members, e.event, audience);
        }
        return;
      }
      case 'r': {
        const id = BigInt(e.messageId);
        await this.storage.markRead(e.userId, e.conversationId, id);
        if (!again) {
          await sink.deliverReceipt(
            e.userId,
            e.conversationId,
            id,
            await this.storage.listMembers(e.conversationId),
          );
        }
        return;
      }
    }
  }

  ping(): Promise<void> {
    return this.link.ping();
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

/**
 * A `Storage` that also replicates what it writes: the wrapped call resolves only once the local
 * write and the outbox publish both succeeded, so an ack given after it covers the cross-region
 * leg too. A failed publish fails the call; the local write stays, and the client's resend (same
 * clientMsgId) is answered as a duplicate and published again.
 */
export function replicatingStorage(inner: Storage, replication: Replication): Storage {
  return {
    init: () => inner.init(),
    close: () => inner.close(),
    ping: () => inner.ping(),
    async createConversation(conv, members) {
      const existing = await inner.getConversation(conv.id);
      const created = await inner.createConversation(conv, members);
      if (!existing) await replication.conversation(created, 'created', members);
      return created;
    },
    getConversation: (id) => inner.getConversation(id),
    async addMembers(conversationId, userIds) {
      await inner.addMembers(conversationId, userIds);
      const conv = await inner.getConversation(conversationId);
      if (conv) await replication.conversation(conv, 'members_added', userIds);
    },
    async removeMembers(conversationId, userIds) {
      await inner.removeMembers(conversationId, userIds);
      const conv = await inner.getConversation(conversationId);
      if (conv) await replication.conversation(conv, 'members_removed', userIds);
    },
    listMembers: (id) => inner.listMembers(id),
    isMember: (c, u) => inner.isMember(c, u),
    listUserConversationIds: (u) => inner.listUserConversationIds(u),
    listUserConversations: (u) => inner.listUserConversations(u),
    async appendMessage(message) {
      const result = await inner.appendMessage(message);
      // Duplicates are published again: the first attempt may have died before its publish.
      await replication.message(result.message);
      return result;
    },
    putReplica: (m) => inner.putReplica(m),
    getMessage: (c, id) => inner.getMessage(c, id),
    getHistory: (c, q) => inner.getHistory(c, q),
    async markRead(userId, conversationId, messageId) {
      await inner.markRead(userId, conversationId, messageId);
      await replication.read(userId, conversationId, messageId);
    },
    getReadMarker: (u, c) => inner.getReadMarker(u, c),
    enqueueOffline: (u, m) => inner.enqueueOffline(u, m),
    listOffline: (u, l, a) => inner.listOffline(u, l, a),
    ackOffline: (u, ids) => inner.ackOffline(u, ids),
    countOffline: (u) => inner.countOffline(u),
  };
}
