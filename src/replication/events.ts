/**
 * What travels through the outbox → inbox streams between regions, and how each event is named
 * for JetStream's duplicate window (the event id; the link makes it `<id>@<src>><dst>`).
 */
import type { MessageRecord } from '../storage/common.ts';
import type { Conversation } from '../storage/types.ts';

export type ConversationEvent = 'created' | 'members_added' | 'members_removed';

export type ReplicationEvent =
  | { k: 'm'; msg: MessageRecord }
  | { k: 'c'; conv: Conversation; event: ConversationEvent; changed: string[] }
  | { k: 'r'; userId: string; conversationId: string; messageId: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEvent(event: ReplicationEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

export function decodeEvent(data: Uint8Array): ReplicationEvent {
  return JSON.parse(decoder.decode(data)) as ReplicationEvent;
}
