/**
 * Every server frame the gateway's operations build, in one place: the wire shapes of stored
 * records (`toWire`, `wireConversation`), the frames themselves, and the `Routed` form the hub
 * fans out (serialized once, with its routing metadata beside the bytes: replay de-duplication
 * and latency metrics read the metadata, never the frame). Replies to requests are built with
 * `resultFrame` from src/protocol, re-exported here.
 */

import type {
  ConversationFrame,
  MessageFrame,
  ReceiptFrame,
  ServerFrame,
  TypingFrame,
  WireConversation,
  WireMessage,
} from '../protocol/index.ts';
import type { Routed } from '../routing/types.ts';
import type { Conversation, StoredMessage } from '../storage/types.ts';
import { conversationTopic } from './local-topics.ts';

export { resultFrame } from '../protocol/index.ts';

/** A stored message as clients see it (ids as decimal strings). */
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

/** A conversation with its members, sorted so every copy of it reads the same. */
export function wireConversation(c: Conversation, members: Iterable<string>): WireConversation {
  return { ...c, members: [...members].sort() };
}

/** A message frame: live ones carry the resume position `pos`, replayed ones none. */
export function messageFrame(message: WireMessage, replay: boolean, pos?: string): MessageFrame {
  return pos === undefined ? { op: 'message', message, replay } : { op: 'message', message, replay, pos };
}

export function conversationFrame(
  conversation: Conversation,
  members: Iterable<string>,
  event: ConversationFrame['event'],
): ConversationFrame {
  return { op: 'conversation', conversation: wireConversation(conversation, members), event };
}

export function receiptFrame(conversationId: string, userId: string, messageId: bigint): ReceiptFrame {
  return { op: 'receipt', conversationId, userId, messageId: messageId.toString() };
}

export function typingFrame(conversationId: string, userId: string, expiresAt: number): TypingFrame {
  return { op: 'typing', conversationId, userId, expiresAt };
}

/**
 * A `Routed` with the uWS topic of its conversation: the hub may hand it to every local
 * subscriber in one publish (`LocalTopics`). The topic stays on this gateway; routers carry only
 * the `Routed` fields.
 */
export type TopicRouted = Routed & { readonly topic: string };

/** The conversation topic a fanned-out frame may be published to, if it has one. */
export function topicOf(routed: Routed): string | undefined {
  return 'topic' in routed && typeof routed.topic === 'string' ? routed.topic : undefined;
}

/**
 * A live `message` frame, with the id and `createdAt` the hub and replay need. Built once per
 * fan-out: `pos` (the resume position of this fan-out) is the same for every recipient, so the
 * frame is serialized once.
 */
export function liveMessage(message: WireMessage, pos: string): TopicRouted {
  return {
    kind: 'message',
    messageId: message.id,
    createdAt: message.createdAt,
    frame: JSON.stringify(messageFrame(message, false, pos)),
    topic: conversationTopic(message.conversationId),
  };
}

/** Any other fanned-out frame: receipts, typing, conversation events. */
export function routedEvent(frame: Exclude<ServerFrame, { op: 'message' }>): Routed {
  return { kind: 'event', frame: JSON.stringify(frame) };
}
