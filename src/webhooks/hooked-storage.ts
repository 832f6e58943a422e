/**
 * Where webhook events are queued: a `Storage` decorator around the gateway's store (outside
 * the replicating one), so each event is queued by the write that makes it true, before that
 * write's caller goes on to ack anything:
 *
 * - `message.*` and `conversation.*`: by the write the gateway accepted (the origin region).
 *   Replicated events are applied into the region's own store underneath this decorator
 *   (`Replication`'s applier), so other regions never emit them again.
 * - `message.offline`: by `enqueueOffline`, which the user's home region alone calls, for a local
 *   send and for a replicated message alike (before the send's ack, and before the inbox event's
 *   ack), once per recipient and message, never for the sender or a conversation they muted.
 *
 * A failed enqueue fails the write's call: the sender is not acked and resends (same event id),
 * an inbox event is not acked and comes again.
 */
import { randomUUID } from 'node:crypto';
import type { Storage } from '../storage/types.ts';
import { overriding } from '../util/overriding.ts';
import { type WebhookEmitter, webhookConversation, webhookMessage } from './emitter.ts';

/**
 * `notifies`: whether this region sends `message.offline` for the user (while a user moves home,
 * both regions queue but one notifies: src/homes/); absent, every queued entry is notified.
 */
export function hookedStorage(
  inner: Storage,
  hooks: WebhookEmitter,
  notifies?: (userId: string) => boolean,
): Storage {
  return overriding(inner, {
    async appendMessage(message, opts) {
      const result = await inner.appendMessage(message, opts);
      // Change records (edits, deletes, reactions) are reported by `applyChange` below.
      if (!message.change && hooks.wants('message.created')) {
        await hooks.emit('message.created', result.message.messageId.toString(), {
          message: webhookMessage(result.message),
        });
      }
      return result;
    },
    async applyChange(change) {
      const target = await inner.applyChange(change);
      const record = change.record;
      if (target && record?.change) {
        const key = record.messageId.toString();
        if (record.change.kind === 'edit' && hooks.wants('message.edited')) {
          await hooks.emit('message.edited', key, {
            message: webhookMessage(target),
            editedAt: target.state?.editedAt ?? null,
          });
        }
        if (record.change.kind === 'delete' && hooks.wants('message.deleted')) {
          await hooks.emit('message.deleted', key, {
            conversationId: target.conversationId,
            messageId: target.messageId.toString(),
            deletedBy: record.senderId,
          });
        }
      }
      return target;
    },
    async createConversation(conv, members) {
      const existing = hooks.wants('conversation.created') ? await inner.getConversation(conv.id) : true;
      const created = await inner.createConversation(conv, members);
      if (!existing) {
        await hooks.emit('conversation.created', created.id, {
          conversation: webhookConversation(created),
          members: [...members],
        });
      }
      return created;
    },
    async addMembers(conversationId, userIds) {
      await inner.addMembers(conversationId, userIds);
      await membersChanged(inner, hooks, 'conversation.members_added', conversationId, userIds);
    },
    async removeMembers(conversationId, userIds) {
      await inner.removeMembers(conversationId, userIds);
      await membersChanged(inner, hooks, 'conversation.members_removed', conversationId, userIds);
    },
    async enqueueOffline(userId, messages) {
      await inner.enqueueOffline(userId, messages);
      if (!hooks.wants('message.offline') || (notifies && !notifies(userId))) return;
      for (const m of messages) {
        if (m.change || m.senderId === userId) continue;
        if (await inner.mutes.isMuted(userId, m.conversationId)) continue;
        await hooks.emit('message.offline', `${m.messageId}:${userId}`, {
          userId,
          message: webhookMessage(m),
        });
      }
    },
  });
}

async function membersChanged(
  inner: Storage,
  hooks: WebhookEmitter,
  type: 'conversation.members_added' | 'conversation.members_removed',
  conversationId: string,
  userIds: readonly string[],
): Promise<void> {
  if (!hooks.wants(type) || userIds.length === 0) return;
  const conv = await inner.getConversation(conversationId);
  if (!conv) return;
  // Each change is its own event (as in replication): a repeated request is reported again.
  await hooks.emit(type, `${conversationId}:${randomUUID()}`, {
    conversation: webhookConversation(conv),
    userIds: [...userIds],
  });
}
