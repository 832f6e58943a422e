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
  UpdateFrame,
  WireConversation,
  WireMessage,
  WireThread,
} from '../protocol/index.ts';
import type { Routed } from '../routing/types.ts';
import type { Conversation, StoredMessage, ThreadSummary } from '../storage/types.ts';
import { snowflakeTime } from '../util/snowflake.ts';
import { conversationTopic } from './local-topics.ts';
import { quote, type Refs } from './refs.ts';

export { resultFrame } from '../protocol/index.ts';

/** No referenced messages: for frames of messages that reply to nothing. */
const NO_REFS: Refs = new Map();

/**
 * A stored message as clients see it (ids as decimal strings), with its state once edited or
 * deleted. Never a change record: those reach clients as `update` frames (`updateFrame`). A
 * reply's quote and its root's summary come from `refs` (`readRefs`): read now, never stored.
 */
export function toWire(m: StoredMessage, refs: Refs = NO_REFS): WireMessage {
  const wire: WireMessage = {
    id: m.messageId.toString(),
    conversationId: m.conversationId,
    senderId: m.senderId,
    clientMsgId: m.clientMsgId,
    body: m.body,
    createdAt: m.createdAt,
    ...(m.attachments?.length ? { attachments: m.attachments } : {}),
  };
  if (m.state) {
    const { revision, deleted, editedAt, editCount } = m.state;
    wire.state = { revision: revision.toString(), deleted, editedAt, editCount };
  }
  // A deleted message shows no reactions (its registers stay: a delete is not a reaction change).
  if (m.reactions && !m.state?.deleted) {
    wire.reactions = {
      revision: m.reactions.revision.toString(),
      entries: m.reactions.entries.map((e) => ({ emoji: e.emoji, count: e.users.length, users: e.users })),
    };
  }
  if (m.thread) wire.thread = wireThread(m.thread);
  if (m.replyTo !== undefined && m.replyTo !== null && m.threadRoot !== undefined && m.threadRoot !== null) {
    const parent = refs.get(m.replyTo);
    const deleted = parent?.state?.deleted === true;
    // A parent this region cannot read (it never can: replies are stored after their parent)
    // would be quoted with no sender and no text.
    wire.replyTo = {
      id: m.replyTo.toString(),
      senderId: parent?.senderId ?? '',
      preview: parent && !deleted ? quote(parent.body) : '',
      deleted,
    };
    wire.threadRoot = m.threadRoot.toString();
    const root = refs.get(m.threadRoot);
    if (root?.thread) wire.rootThread = wireThread(root.thread);
  }
  return wire;
}

/** A root's summary as clients see it (its newest reply's time from the id). */
export function wireThread(t: ThreadSummary): WireThread {
  return {
    replyCount: t.replyCount,
    lastReplyId: t.lastReplyId.toString(),
    lastReplyAt: snowflakeTime(t.lastReplyId),
  };
}

/**
 * An `update` frame: change record `change` resolved to its target's current state `target`
 * (read when the frame is built, so a replayed edit of a since-deleted message shows the delete).
 */
export function updateFrame(
  change: StoredMessage,
  target: StoredMessage,
  replay: boolean,
  pos?: string,
  refs: Refs = NO_REFS,
): UpdateFrame {
  const frame: UpdateFrame = {
    op: 'update',
    changeId: change.messageId.toString(),
    kind: change.change?.kind ?? 'edit',
    by: change.senderId,
    message: toWire(target, refs),
    replay,
  };
  if (pos !== undefined) frame.pos = pos;
  return frame;
}

/** A conversation with its members, sorted so every copy of it reads the same. */
export function wireConversation(
  c: Conversation,
  members: Iterable<string>,
  admins: Iterable<string>,
): WireConversation {
  return { ...c, members: [...members].sort(), admins: [...admins].sort() };
}

/** A message frame: live ones carry the resume position `pos`, replayed ones none. */
export function messageFrame(message: WireMessage, replay: boolean, pos?: string): MessageFrame {
  return pos === undefined ? { op: 'message', message, replay } : { op: 'message', message, replay, pos };
}

export function conversationFrame(
  conversation: Conversation,
  members: Iterable<string>,
  event: ConversationFrame['event'],
  admins: Iterable<string>,
): ConversationFrame {
  return { op: 'conversation', conversation: wireConversation(conversation, members, admins), event };
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

/**
 * A live `update` frame, routed like a message under its change record's id: a connection that
 * just replayed the change drops the live copy, and it rides the conversation's topic.
 */
export function liveUpdate(
  change: StoredMessage,
  target: StoredMessage,
  pos: string,
  refs: Refs = NO_REFS,
): TopicRouted {
  return {
    kind: 'message',
    messageId: change.messageId.toString(),
    createdAt: change.createdAt,
    frame: JSON.stringify(updateFrame(change, target, false, pos, refs)),
    topic: conversationTopic(change.conversationId),
  };
}

/** Any other fanned-out frame: receipts, typing, conversation events. */
export function routedEvent(frame: Exclude<ServerFrame, { op: 'message' | 'update' }>): Routed {
  return { kind: 'event', frame: JSON.stringify(frame) };
}
