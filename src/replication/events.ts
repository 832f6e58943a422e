/**
 * What travels through the outbox → inbox streams between regions, and how each event is named
 * for JetStream's duplicate window (the event id; the link makes it `<id>@<src>><dst>`).
 */

import type { HomeMoveEvent } from '../homes/events.ts';
import type { SessionsEnd } from '../routing/types.ts';
import type { AttachmentMeta, AttachmentUpload } from '../storage/attachments.ts';
import type { MessageRecord } from '../storage/common.ts';
import type { StoredRole } from '../storage/moderation.ts';
import type { MuteSetting } from '../storage/mutes.ts';
import type { ErasureRecord, ErasureRequest } from '../storage/retention.ts';
import type { Conversation } from '../storage/types.ts';
import type { ErasableItem } from './link.ts';

export type ConversationEvent = 'created' | 'members_added' | 'members_removed';

export type ReplicationEvent =
  | { k: 'm'; msg: MessageRecord }
  | { k: 'c'; conv: Conversation; event: ConversationEvent; changed: string[] }
  | { k: 'r'; userId: string; conversationId: string; messageId: string }
  /**
   * An edit or delete: the change record (`change` set, empty body) and the target message's
   * state after it was applied at the origin (body included, empty once deleted). Receivers
   * merge that state into their row (`Storage.applyChange`: order-insensitive, idempotent), so a
   * republished or redelivered event, or one overtaken by a newer change, ends the same.
   */
  | { k: 'x'; change: MessageRecord; target: MessageRecord }
  /**
   * An attachment upload: one chunk (`data` base64), committed, discarded (by the origin, also
   * when its sweeper found the upload abandoned); deleted. Other regions keep no in-progress
   * record: the origin decides an upload's fate and replicates it.
   */
  | { k: 'ac'; up: AttachmentUpload; i: number; data: string }
  | { k: 'am'; up: AttachmentUpload; meta: AttachmentMeta }
  | { k: 'ax'; up: AttachmentUpload }
  | { k: 'ad'; conversationId: string; ids: string[] }
  /**
   * A region's note to itself (published to its own outbox, sourced by its own inbox): erase
   * these items' events from its streams, retried until it succeeds (`erase.ts`).
   */
  | { k: 'xe'; items: ErasableItem[] }
  /**
   * A user's sessions end in every region: a token revocation (stored by each region, then its
   * sessions closed) or an operator's disconnect (sessions opened before `at` closed).
   */
  | { k: 'se'; end: SessionsEnd }
  /**
   * Moderation (storage/moderation.ts): a role set in a group, a ban or unban, a block or
   * unblock. Each is a last-writer-wins register on `rev` (the change's snowflake id, decimal),
   * so they apply in any order and any number of times. Roles and bans are keyed by their
   * conversation, blocks by the blocking user.
   */
  | { k: 'mr'; conversationId: string; userId: string; role: StoredRole; rev: string }
  | { k: 'mb'; conversationId: string; userId: string; banned: boolean; by: string; rev: string }
  | { k: 'mk'; userId: string; targetId: string; blocked: boolean; rev: string }
  /**
   * A user muted or unmuted a conversation: every region stores it, so the recipient's home
   * region (which emits `message.offline`) knows wherever the user set it. A register on `at`.
   */
  | { k: 'mu'; mute: MuteSetting }
  /** A conversation's own retention period set (null: cleared) at `at` ms; the last setting wins. */
  | { k: 'rt'; conversationId: string; seconds: number | null; at: number }
  /** Erase a user's messages: each region erases its copy and records its report (`er` → `ed`). */
  | { k: 'er'; req: ErasureRequest }
  /** A region's record of an erasure request, so every region can show every region's. */
  | { k: 'ed'; record: ErasureRecord }
  /** A home-region move's record, copy, ack, question or answer (src/homes/events.ts). */
  | { k: 'hm'; ev: HomeMoveEvent };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEvent(event: ReplicationEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

export function decodeEvent(data: Uint8Array): ReplicationEvent {
  return JSON.parse(decoder.decode(data)) as ReplicationEvent;
}
