/**
 * Delivers what other regions replicated to this region's users: live to whoever is connected
 * (here or on another gateway of the region), and into the offline queue of members this region
 * is home to and who are connected nowhere.
 */
import type { ReplicationSink } from '../routing/replication.ts';
import type { StoredMessage } from '../storage/types.ts';
import type { ChatService } from './chat-service.ts';
import type { Hub } from './hub.ts';
import type { ServerFrame } from './protocol.ts';

export interface SinkDeps {
  hub: Hub;
  /** Delivery and offline queueing, shared with local sends. */
  chat: ChatService;
}

export function replicationSink(d: SinkDeps): ReplicationSink {
  return {
    deliverMessage(message: StoredMessage, members: string[]) {
      return d.chat.deliverReplicated(message, members);
    },
    async deliverConversation(conversation, members, event, audience) {
      const payload = JSON.stringify({
        op: 'conversation',
        conversation: { ...conversation, members: [...members].sort() },
        event,
      } satisfies ServerFrame);
      d.chat.invalidateFromEvent(payload);
      await d.hub.fanOut(audience, payload, null);
    },
    async deliverReceipt(userId, conversationId, messageId, members) {
      const payload = JSON.stringify({
        op: 'receipt',
        conversationId,
        userId,
        messageId: messageId.toString(),
      } satisfies ServerFrame);
      await d.hub.fanOut(members, payload, null);
    },
  };
}
