/**
 * Identifiers as they travel: message ids are 63-bit snowflakes sent as decimal strings (a
 * JavaScript number cannot hold them); user and conversation ids have fixed formats both sides
 * check. Pure functions, so the browser SDK and the gateway share them.
 */

export const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const CONVERSATION_ID = /^(dm:[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_-]{1,64}|g:\d{1,19})$/;

/** An attachment id: 16 random bytes, base64url (the gateway mints them at upload). */
export const ATTACHMENT_ID = /^[A-Za-z0-9_-]{22}$/;
/** Most attachments any `send` may name (the gateway's `attachments.maxPerMessage` is at most this). */
export const MAX_ATTACHMENTS_PER_MESSAGE = 64;

/**
 * The sender of messages the deployment posts itself (the server API's system messages) and the
 * author of changes an operator makes: not a valid user id, so no user can be it and a client
 * tells a system message by `senderId === SYSTEM_SENDER_ID`.
 */
export const SYSTEM_SENDER_ID = '$system';

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID.test(value);
}

/** The conversation id both sides of a direct conversation derive: `dm:` + both ids sorted by code unit. */
export function directConversationId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/** The two users of a direct conversation id, or null if it is not one. */
export function directParticipants(conversationId: string): [string, string] | null {
  if (!conversationId.startsWith('dm:')) return null;
  const parts = conversationId.split(':');
  return parts.length === 3 ? [parts[1]!, parts[2]!] : null;
}

/** Parses a decimal id string from the wire; returns null if it is not a valid unsigned 63-bit id. */
export function parseId(value: string): bigint | null {
  if (!/^\d{1,19}$/.test(value)) return null;
  const id = BigInt(value);
  return id <= 0x7fff_ffff_ffff_ffffn ? id : null;
}
