/**
 * What the server API's routes share: the connection state an API call acts through (the chat
 * operations take one; it has no socket, so nothing is ever sent to it), the request parsing
 * the WebSocket uses (so limits and typed errors are the same), path parameter checks, and the
 * zod schemas of the wire objects the routes answer with.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConnectionState } from '../gateway/connection.ts';
import type { Gateway } from '../gateway/gateway.ts';
import {
  ChatError,
  CONVERSATION_ID,
  ErrorCode,
  isUserId,
  type ParsedClientFrame,
  type ParsedRequestOf,
  parseClientRequest,
  parseId,
  type WireMessage,
} from '../protocol/index.ts';

/**
 * A connection state for one API call acting as `userId` (a user, or `SYSTEM_SENDER_ID`). Its
 * connection id is unique, so the call's fan-out excludes nobody: the user's own devices get it.
 */
export function apiState(userId: string): ConnectionState {
  return new ConnectionState({
    connectionId: `api:${randomUUID()}`,
    userId,
    device: 'server-api',
    closed: true,
    sendRaw: () => {},
    sendRouted: () => {},
    sendFrame: () => {},
    bufferedAmount: () => 0,
    waitForDrain: async () => {},
    close: () => {},
  });
}

/**
 * Validates a request built from an API call as the WebSocket validates a client frame
 * (`parseClientRequest`, with the gateway's limits): the same `invalid_field` errors.
 */
export function parseAs<Op extends ParsedClientFrame['op']>(
  gw: Gateway,
  op: Op,
  fields: Record<string, unknown>,
): ParsedRequestOf<Op> {
  const { maxBodyChars, maxGroupMembers, maxHistoryLimit } = gw.deps.config.limits;
  const parsed = parseClientRequest(
    { ...fields, op, id: 'api' },
    { maxBodyChars, maxGroupMembers, maxHistoryLimit },
  );
  return parsed as ParsedRequestOf<Op>;
}

function invalid(field: string, message: string): ChatError {
  return new ChatError(ErrorCode.InvalidField, message, { field });
}

export function userParam(params: Readonly<Record<string, string>>, name = 'userId'): string {
  const v = params[name];
  if (!isUserId(v)) throw invalid(name, `${name}: [A-Za-z0-9_-]{1,64}`);
  return v;
}

export function conversationParam(params: Readonly<Record<string, string>>): string {
  const v = params.conversationId ?? '';
  if (!CONVERSATION_ID.test(v)) throw invalid('conversationId', 'conversationId: dm:<a>:<b> or g:<digits>');
  return v;
}

export function messageParam(params: Readonly<Record<string, string>>): string {
  const v = params.messageId ?? '';
  if (parseId(v) === null) throw invalid('messageId', 'messageId: a decimal message id');
  return v;
}

export const userIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a user id: [A-Za-z0-9_-]{1,64}');

/** Conversation in docs/protocol.md. */
export const conversationSchema = z.object({
  id: z.string(),
  kind: z.enum(['direct', 'group']),
  title: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.number(),
  members: z.array(z.string()),
});

/**
 * Message in docs/protocol.md: the fields every message has are listed; the optional parts
 * (attachments, state, reactions, replies, threads) are as there. Typed as the protocol's
 * `WireMessage`, which the routes return unchanged.
 */
export const messageSchema: z.ZodType<WireMessage> = z.looseObject({
  id: z.string(),
  conversationId: z.string(),
  senderId: z.string().describe('A user id, or "$system" for a message the deployment posted'),
  clientMsgId: z.string().nullable(),
  body: z.string(),
  createdAt: z.number(),
}) as z.ZodType<unknown> as z.ZodType<WireMessage>;

export const conversationResult = z.object({ conversation: conversationSchema });
