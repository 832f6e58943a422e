/**
 * Delivers what other regions replicated to this region's users: live to whoever is connected
 * (here or on another gateway of the region), and into the offline queue of members this region
 * is home to and who are connected nowhere.
 */
import type { ChatService } from '../gateway/chat-service.ts';
import { conversationFrame, receiptFrame, routedEvent } from '../gateway/frames.ts';
import type { Hub } from '../gateway/hub.ts';
import type { SessionsEnd } from '../routing/types.ts';
import type { StoredMessage } from '../storage/types.ts';
import type { ReplicationSink } from './apply.ts';

export interface SinkDeps {
  hub: Hub;
  /** Delivery and offline queueing, shared with local sends. */
  chat: ChatService;
  /** A revocation or disconnect another region made: end the user's sessions in this region. */
  endSessions?: (end: SessionsEnd) => Promise<void>;
}

export function replicationSink(d: SinkDeps): ReplicationSink {
  return {
    membersOf(conversationId) {
      return d.chat.membersOf(conversationId);
    },
    deliverMessage(message: StoredMessage, members: string[]) {
      return d.chat.deliverReplicated(message, members);
    },
    async deliverConversation(conversation, members, event, audience) {
      d.chat.invalidateMembers(conversation.id);
      const admins = conversation.kind === 'group' ? await d.chat.adminsOf(conversation.id) : [];
      const routed = routedEvent(conversationFrame(conversation, members, event, admins));
      await d.hub.conversationChanged(conversation.id, audience, routed);
    },
    async endSessions(end) {
      await d.endSessions?.(end);
    },
    async moderationChanged(scope) {
      if (scope.kind === 'blocks') {
        d.chat.invalidateBlocks(scope.userId);
        await d.hub.blocksChanged(scope.userId);
        return;
      }
      d.chat.invalidateMembers(scope.conversationId);
      if (scope.kind === 'bans') {
        await d.hub.membersChanged(scope.conversationId);
        return;
      }
      // A role: the members see the group's new admins, as where it was given.
      const now = await d.chat.conversationFrameOf(scope.conversationId, 'roles_changed');
      if (now) await d.hub.conversationChanged(scope.conversationId, now.members, routedEvent(now.frame));
    },
    deliverChange(record, target, members) {
      return d.chat.deliverReplicatedChange(record, target, members);
    },
    async deliverReceipt(userId, conversationId, messageId, members) {
      const routed = routedEvent(receiptFrame(conversationId, userId, messageId));
      await d.hub.fanOut(members, routed);
    },
  };
}
