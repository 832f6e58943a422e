/**
 * The publishing side: every replicated write is handed to this region's outbox (through the
 * link), and `replicatingStorage` makes the region's store do that on each write it replicates.
 */

import { randomUUID } from 'node:crypto';
import { type HomeMoveEvent, moveEventUser } from '../homes/events.ts';
import type { SessionsEnd } from '../routing/types.ts';
import type { AttachmentStore } from '../storage/attachments.ts';
import { toRecord } from '../storage/common.ts';
import type { ModerationStore } from '../storage/moderation.ts';
import type { MuteSetting } from '../storage/mutes.ts';
import type { ErasureRecord, ErasureRequest, RetentionStore } from '../storage/retention.ts';
import type { Conversation, Storage, StoredMessage } from '../storage/types.ts';
import { overriding } from '../util/overriding.ts';
import { attachmentItem, contentItem, type StreamEraser } from './erase.ts';
import { type ConversationEvent, encodeEvent, type ReplicationEvent } from './events.ts';

type AttachmentEvent = Extract<ReplicationEvent, { k: 'ac' | 'am' | 'ax' | 'ad' }>;
type ModerationEvent = Extract<ReplicationEvent, { k: 'mr' | 'mb' | 'mk' }>;

import type { CrossRegionLink } from './link.ts';

/**
 * Every event is published with its conversation as the key: receivers apply a conversation's
 * events (its creation and membership changes before the messages that follow) in order.
 */
export class OutboxPublisher {
  private readonly changeSeq = new Map<string, number>();

  constructor(private readonly link: CrossRegionLink) {}

  /** Durably hands a stored message to every other region (resolves once the outbox has it). */
  message(message: StoredMessage): Promise<void> {
    return this.link.publish(
      encodeEvent({ k: 'm', msg: toRecord(message) }),
      `m:${message.messageId}`,
      message.conversationId,
      contentItem(message),
    );
  }

  conversation(
    conversation: Conversation,
    event: ConversationEvent,
    changed: readonly string[],
  ): Promise<void> {
    // Each change is its own event; the id only has to be unique per change.
    const seq = (this.changeSeq.get(conversation.id) ?? 0) + 1;
    this.changeSeq.set(conversation.id, seq);
    return this.link.publish(
      encodeEvent({ k: 'c', conv: conversation, event, changed: [...changed] }),
      `c:${conversation.id}:${event}:${Date.now()}:${seq}:${changed.join(',')}`,
      conversation.id,
    );
  }

  /** An edit or delete, with the target's state after it (resolves once the outbox has it). */
  change(record: StoredMessage, target: StoredMessage): Promise<void> {
    return this.link.publish(
      encodeEvent({ k: 'x', change: toRecord(record), target: toRecord(target) }),
      `x:${record.messageId}`,
      record.conversationId,
      // A reaction's or edit's event carries the target's body: erased with it.
      contentItem(target),
    );
  }

  /**
   * An attachment event, keyed by its conversation: applied before the message referencing it.
   * A chunk or commit carries the file (bytes, name): named by it, to be erased with it.
   */
  attachment(event: AttachmentEvent, eventId: string, conversationId: string): Promise<void> {
    const item = event.k === 'ac' || event.k === 'am' ? attachmentItem(event.up.id) : undefined;
    return this.link.publish(encodeEvent(event), eventId, conversationId, item);
  }

  /** A revocation or disconnect, keyed by its user: every region applies it. */
  sessionsEnded(end: SessionsEnd): Promise<void> {
    return this.link.publish(encodeEvent({ k: 'se', end }), sessionsEndId(end), `user:${endUser(end)}`);
  }

  /**
   * A moderation change, keyed by its conversation (roles, bans: after the conversation's
   * creation) or its blocking user (blocks). The id is the change's revision: unique per change.
   */
  moderation(event: ModerationEvent): Promise<void> {
    const key = event.k === 'mk' ? `user:${event.userId}` : event.conversationId;
    return this.link.publish(encodeEvent(event), `${event.k}:${event.rev}`, key);
  }

  /** A mute setting, keyed by its conversation (order does not matter: a register on `at`). */
  mute(setting: MuteSetting): Promise<void> {
    return this.link.publish(
      encodeEvent({ k: 'mu', mute: setting }),
      `mu:${setting.userId}:${setting.conversationId}:${setting.at}:${setting.muted ? 1 : 0}`,
      setting.conversationId,
    );
  }

  /** A conversation's own retention period, keyed by the conversation (after its creation). */
  retention(conversationId: string, seconds: number | null, at: number): Promise<void> {
    return this.link.publish(
      encodeEvent({ k: 'rt', conversationId, seconds, at }),
      `rt:${conversationId}:${at}:${seconds}`,
      conversationId,
    );
  }

  /** An erasure request, keyed by its user: a region erases one request of a user at a time. */
  erasure(req: ErasureRequest): Promise<void> {
    return this.link.publish(encodeEvent({ k: 'er', req }), `er:${req.requestId}`, `erasure:${req.userId}`);
  }

  /** A region's record of an erasure, for every other region to show. */
  erasureRecord(record: ErasureRecord): Promise<void> {
    return this.link.publish(
      encodeEvent({ k: 'ed', record }),
      `ed:${record.requestId}:${record.region}:${record.status}:${record.finishedAt ?? 0}`,
      `erasure:${record.userId}`,
    );
  }

  /**
   * A home-region move's event, keyed by its user: a region's events of one move apply in the
   * order it published them (src/homes/events.ts). Each is its own event (applying is idempotent).
   */
  homeMove(ev: HomeMoveEvent): Promise<void> {
    const user = moveEventUser(ev);
    return this.link.publish(encodeEvent({ k: 'hm', ev }), `hm:${ev.t}:${randomUUID()}`, `home:${user}`);
  }

  read(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    return this.link.publish(
      encodeEvent({ k: 'r', userId, conversationId, messageId: messageId.toString() }),
      `r:${userId}:${conversationId}:${messageId}`,
      conversationId,
    );
  }
}

function endUser(end: SessionsEnd): string {
  return end.kind === 'revoked' ? end.revocation.userId : end.userId;
}

/** The same revocation or disconnect published twice (a retried API call) is one event. */
function sessionsEndId(end: SessionsEnd): string {
  if (end.kind === 'disconnect') return `se:d:${end.userId}:${end.at}`;
  const r = end.revocation;
  return r.kind === 'token' ? `se:t:${r.jti}` : `se:u:${r.userId}:${r.before}`;
}

/**
 * A `Storage` that also replicates what it writes: the wrapped call resolves only once the local
 * write and the outbox publish both succeeded, so an ack given after it covers the cross-region
 * leg too. A failed publish fails the call; the local write stays, and the client's resend (same
 * clientMsgId) is answered as a duplicate and published again. Every other method is `inner`'s.
 * A delete also erases the deleted content's events from this region's streams (`eraser`) before
 * it resolves; a failed erase fails the call the same way, and the resent delete erases again.
 */
export function replicatingStorage(inner: Storage, outbox: OutboxPublisher, eraser: StreamEraser): Storage {
  return overriding(inner, {
    attachments: replicatingAttachments(inner.attachments, outbox, eraser),
    moderation: replicatingModeration(inner.moderation, outbox),
    mutes: overriding(inner.mutes, {
      async set(setting) {
        const stands = await inner.mutes.set(setting);
        await outbox.mute(setting);
        return stands;
      },
    }),
    retention: replicatingRetention(inner.retention, outbox),
    async createConversation(conv, members) {
      const existing = await inner.getConversation(conv.id);
      const created = await inner.createConversation(conv, members);
      if (!existing) await outbox.conversation(created, 'created', members);
      return created;
    },
    async addMembers(conversationId, userIds) {
      await inner.addMembers(conversationId, userIds);
      const conv = await inner.getConversation(conversationId);
      if (conv) await outbox.conversation(conv, 'members_added', userIds);
    },
    async removeMembers(conversationId, userIds) {
      await inner.removeMembers(conversationId, userIds);
      const conv = await inner.getConversation(conversationId);
      if (conv) await outbox.conversation(conv, 'members_removed', userIds);
    },
    async appendMessage(message, opts) {
      const result = await inner.appendMessage(message, opts);
      // A change record is published by `applyChange`, with the state it gave its target.
      if (message.change) return result;
      // Duplicates are published again: the first attempt may have died before its publish.
      await outbox.message(result.message);
      return result;
    },
    async applyChange(change) {
      const target = await inner.applyChange(change);
      // Published with whatever state won here (the receivers merge it the same way); a resend
      // applies and publishes again, in case the first attempt died before its publish.
      if (target && change.record) await outbox.change(change.record, target);
      if (target?.state?.deleted) await eraser.messages([target]);
      return target;
    },
    async applyReaction(reaction) {
      const target = await inner.applyReaction(reaction);
      if (target && reaction.record) await outbox.change(reaction.record, target);
      return target;
    },
    async markRead(userId, conversationId, messageId) {
      await inner.markRead(userId, conversationId, messageId);
      await outbox.read(userId, conversationId, messageId);
    },
  });
}

/**
 * An `AttachmentStore` that also replicates what it writes, each step as its own event (a chunk
 * per event keeps every event far under NATS's payload limit), keyed by the conversation: a
 * region applies an attachment's chunks, then its commit, then the message that references it
 * (published only after the upload was answered). A failed publish fails the step, and so the
 * upload; the client uploads again under a new id, and the sweeper removes the first one's chunks
 * here and (replicating the discard) in every other region. Other regions record no upload in
 * progress: their sweepers could not tell an abandoned upload from one whose commit is still
 * in the inbox behind an outage.
 */
export function replicatingAttachments(
  inner: AttachmentStore,
  outbox: OutboxPublisher,
  eraser: StreamEraser,
): AttachmentStore {
  return overriding(inner, {
    async putChunk(up, index, data) {
      await inner.putChunk(up, index, data);
      const base64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
      await outbox.attachment(
        { k: 'ac', up, i: index, data: base64 },
        `ac:${up.id}:${index}`,
        up.conversationId,
      );
    },
    async commit(up, meta) {
      await inner.commit(up, meta);
      await outbox.attachment({ k: 'am', up, meta }, `am:${up.id}`, up.conversationId);
    },
    async discard(up) {
      await inner.discard(up);
      await outbox.attachment({ k: 'ax', up }, `ax:${up.id}`, up.conversationId);
    },
    async delete(conversationId, ids) {
      // Read before the delete: the commit time bounds how far back the file's events go.
      const found = await Promise.all(ids.map(async (id) => ({ id, meta: await inner.get(id) })));
      await inner.delete(conversationId, ids);
      await outbox.attachment(
        { k: 'ad', conversationId, ids: [...ids] },
        `ad:${[...ids].sort().join(',')}`,
        conversationId,
      );
      await eraser.attachments(found);
    },
    // What the origin's sweeper removes, every region removes.
    async sweepOrphans(startedBefore) {
      const swept = await inner.sweepOrphans(startedBefore);
      for (const up of swept) await outbox.attachment({ k: 'ax', up }, `ax:${up.id}`, up.conversationId);
      return swept;
    },
  });
}

/**
 * A `ModerationStore` that also replicates each change, so every region enforces it: resolves
 * once stored here and in the outbox (a failed publish fails the op; the client retries, and
 * writing the same change again is harmless).
 */
export function replicatingModeration(inner: ModerationStore, outbox: OutboxPublisher): ModerationStore {
  return overriding(inner, {
    async setRole(c) {
      await inner.setRole(c);
      await outbox.moderation({
        k: 'mr',
        conversationId: c.conversationId,
        userId: c.userId,
        role: c.role,
        rev: c.revision.toString(),
      });
    },
    async setBan(c) {
      await inner.setBan(c);
      await outbox.moderation({
        k: 'mb',
        conversationId: c.conversationId,
        userId: c.userId,
        banned: c.banned,
        by: c.by,
        rev: c.revision.toString(),
      });
    },
    async setBlock(c) {
      await inner.setBlock(c);
      await outbox.moderation({
        k: 'mk',
        userId: c.userId,
        targetId: c.targetId,
        blocked: c.blocked,
        rev: c.revision.toString(),
      });
    },
  });
}

/**
 * A `RetentionStore` whose conversation periods also go to every other region. Removals are not
 * replicated from here: each region's sweeper expires its own copy, and an erasure is replicated
 * as a request (`src/retention/erasure.ts`) so each region erases and reports on its own.
 */
export function replicatingRetention(inner: RetentionStore, outbox: OutboxPublisher): RetentionStore {
  return overriding(inner, {
    async setConversationRetention(conversationId, seconds, at) {
      await inner.setConversationRetention(conversationId, seconds, at);
      await outbox.retention(conversationId, seconds, at);
    },
  });
}
