/**
 * Tells connected members that erased messages are gone: an `update` frame per message, kind
 * `delete`, with the message as a tombstone (clients render it as deleted and drop its body and
 * files). Its change id and revision are minted from the clock rather than stored as a change
 * record: nothing of an erased message stays in the stream, so there is nothing to replay, and a
 * revision from now is newer than any change made to the message before.
 */
import type { ChatService } from '../gateway/chat-service.ts';
import { updateFrame } from '../gateway/frames.ts';
import type { Hub } from '../gateway/hub.ts';
import { tombstone } from '../storage/common.ts';
import type { StoredMessage } from '../storage/types.ts';
import { snowflakeFloor } from '../util/snowflake.ts';

export function erasureNotifier(hub: Hub, chat: Pick<ChatService, 'membersOf'>) {
  return async (removed: StoredMessage[]): Promise<void> => {
    const byConversation = new Map<string, StoredMessage[]>();
    for (const m of removed) {
      const list = byConversation.get(m.conversationId) ?? [];
      list.push(m);
      byConversation.set(m.conversationId, list);
    }
    const now = Date.now();
    const revision = snowflakeFloor(now);
    for (const [conversationId, messages] of byConversation) {
      const members = await chat.membersOf(conversationId);
      for (const m of messages) {
        const state = { revision, deleted: true, editedAt: null, editCount: m.state?.editCount ?? 0 };
        const change: StoredMessage = {
          conversationId,
          messageId: revision,
          senderId: m.senderId,
          clientMsgId: null,
          body: '',
          createdAt: now,
          change: { kind: 'delete', targetId: m.messageId },
        };
        const frame = JSON.stringify(updateFrame(change, tombstone(m, state), false));
        await hub.fanOut(members, { kind: 'event', frame });
      }
    }
  };
}
