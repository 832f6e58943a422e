/**
 * Delivers what other regions replicated to this region's users: live to whoever is connected
 * (here or on another gateway of the region), and into the offline queue of members this region
 * is home to and who are connected nowhere.
 */
import type { Presence } from '../presence/types.ts';
import type { Replication, ReplicationSink } from '../routing/replication.ts';
import type { Storage, StoredMessage } from '../storage/types.ts';
import type { Hub } from './hub.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { ServerFrame } from './protocol.ts';

export interface SinkDeps {
  hub: Hub;
  presence: Presence;
  /** The region's own store (not the replicating wrapper: applying must not republish). */
  storage: Storage;
  replication: Replication;
  metrics: GatewayMetrics;
  /** Drops cached membership when a conversation changed elsewhere. */
  invalidate: (payload: string) => void;
}

export function replicationSink(d: SinkDeps): ReplicationSink {
  return {
    async deliverMessage(message: StoredMessage, members: string[]) {
      const wire = {
        id: message.messageId.toString(),
        conversationId: message.conversationId,
        senderId: message.senderId,
        clientMsgId: message.clientMsgId,
        body: message.body,
        createdAt: message.createdAt,
      };
      const payload = JSON.stringify({ op: 'message', message: wire, replay: false } satisfies ServerFrame);
      await d.hub.fanOut(members, payload, wire.id);
      const candidates = members.filter((u) => d.replication.isHome(u) && !d.hub.hasLocal(u));
      if (candidates.length === 0) return;
      const online = await d.presence.onlineUsers(candidates);
      const offline = candidates.filter((u) => !online.has(u));
      if (offline.length === 0) return;
      await Promise.all(offline.map((u) => d.storage.enqueueOffline(u, [message])));
      d.metrics.offlineEnqueued.inc(offline.length);
      const nowOnline = await d.presence.onlineUsers(offline);
      if (nowOnline.size > 0) await d.hub.fanOut([...nowOnline], payload, wire.id);
    },
    async deliverConversation(conversation, members, event, audience) {
      const payload = JSON.stringify({
        op: 'conversation',
        conversation: { ...conversation, members: [...members].sort() },
        event,
      } satisfies ServerFrame);
      d.invalidate(payload);
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
