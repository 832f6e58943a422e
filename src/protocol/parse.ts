/**
 * The validator at the edge: turns a client frame (text, or a decoded Socket.IO payload) into a
 * `ParsedClientFrame`, or throws `ChatError` (bad_frame, unknown_op, invalid_field). Everything
 * past it works with typed values. Pure code: no I/O, no Node modules.
 */
import { CLIENT_OPS, type ClientOp, type ParsedClientFrame } from './client-frames.ts';
import { ChatError, ErrorCode } from './errors.ts';
import {
  ATTACHMENT_ID,
  CONVERSATION_ID,
  directConversationId,
  directParticipants,
  isUserId,
  MAX_ATTACHMENTS_PER_MESSAGE,
  parseId,
  USER_ID,
} from './ids.ts';
import { POSITION_MAX_CHARS, parsePosition, type ResumePosition } from './position.ts';
import {
  SEARCH_DEFAULT_LIMIT,
  SEARCH_MAX_LIMIT,
  SEARCH_MAX_TERMS,
  SEARCH_QUERY_MAX_CHARS,
  searchTerms,
} from './search.ts';

const REQUEST_ID_MAX = 64;
const CLIENT_MSG_ID_MAX = 64;
const TITLE_MAX = 200;
/**
 * A reaction: a short string with no whitespace or control characters (an emoji, possibly a ZWJ
 * sequence with modifiers; not checked against Unicode's emoji list, which changes yearly).
 */
const EMOJI_MAX = 32;
const EMOJI = /^[^\s\p{Cc}]+$/u;
/** Most users one `presence` request may ask about. */
const MAX_PRESENCE_QUERY = 500;

type Obj = Record<string, unknown>;

function invalid(field: string, why: string, requestId: string | null): ChatError {
  return new ChatError(ErrorCode.InvalidField, `${field}: ${why}`, {
    field,
    ...(requestId ? { requestId } : {}),
  });
}

function str(o: Obj, field: string, re: RegExp | null, max: number, reqId: string | null): string {
  const v = o[field];
  if (typeof v !== 'string') throw invalid(field, 'expected a string', reqId);
  if (v.length === 0 || v.length > max) throw invalid(field, `length must be 1..${max}`, reqId);
  if (re && !re.test(v)) throw invalid(field, 'bad format', reqId);
  return v;
}

/**
 * A conversation id. A direct one must be the canonical id of two different users
 * (`directConversationId`): `dm:bob:alice` would otherwise name a second conversation for the
 * same pair, and `dm:eve:eve` one with a single member.
 */
function conversationField(o: Obj, reqId: string | null): string {
  const v = str(o, 'conversationId', CONVERSATION_ID, 200, reqId);
  const pair = directParticipants(v);
  if (pair && (pair[0] === pair[1] || directConversationId(pair[0], pair[1]) !== v)) {
    throw invalid(
      'conversationId',
      'a direct conversation is dm:<user>:<user>, two different users sorted',
      reqId,
    );
  }
  return v;
}

/** `send`'s optional attachment ids: distinct, well-formed, at most MAX_ATTACHMENTS_PER_MESSAGE. */
function attachmentList(o: Obj, reqId: string): string[] {
  const v = o.attachments;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    throw invalid('attachments', `expected an array of at most ${MAX_ATTACHMENTS_PER_MESSAGE} ids`, reqId);
  }
  if (!v.every((x): x is string => typeof x === 'string' && ATTACHMENT_ID.test(x))) {
    throw invalid('attachments', 'expected attachment ids', reqId);
  }
  if (new Set(v).size !== v.length) throw invalid('attachments', 'ids must be distinct', reqId);
  return v;
}

function optId(o: Obj, field: string, reqId: string | null): bigint | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  const id = typeof v === 'string' ? parseId(v) : null;
  if (id === null) throw invalid(field, 'expected a message id (decimal string)', reqId);
  return id;
}

/**
 * A resume position (a `sync` field, or the `resume` connect parameter): absent is null, anything
 * that is not a token this server issues is `invalid_field`. A region this server does not know is
 * not an error: the replay treats it as another region's.
 */
export function optPosition(v: unknown, field: string, reqId: string | null): ResumePosition | null {
  if (v === undefined || v === null) return null;
  const p = typeof v === 'string' ? parsePosition(v) : null;
  if (p === null) {
    throw invalid(
      field,
      `expected a resume position (v1.<region>.<ms>[.<id>], ≤${POSITION_MAX_CHARS} chars)`,
      reqId,
    );
  }
  return p;
}

function userList(o: Obj, field: string, max: number, reqId: string | null): string[] {
  const v = o[field];
  if (!Array.isArray(v)) throw invalid(field, 'expected an array of user ids', reqId);
  if (v.length > max) throw invalid(field, `at most ${max} users`, reqId);
  for (const u of v) if (!isUserId(u)) throw invalid(field, 'bad user id', reqId);
  return [...new Set(v as string[])];
}

/** A message body: the same rules for `send` and `edit`. */
function bodyField(o: Obj, limits: ParseLimits, id: string, minLength = 1): string {
  const body = o.body;
  if (typeof body !== 'string') throw invalid('body', 'expected a string', id);
  if (body.length < minLength || body.length > limits.maxBodyChars) {
    throw invalid('body', `length must be ${minLength}..${limits.maxBodyChars}`, id);
  }
  return body;
}

/** `clientMsgId` and `attempt`, which make `send`, `edit` and `delete` safe to resend. */
function resendFields(o: Obj, id: string): { clientMsgId: string | null; attempt: number | null } {
  const clientMsgId =
    o.clientMsgId === undefined || o.clientMsgId === null
      ? null
      : str(o, 'clientMsgId', null, CLIENT_MSG_ID_MAX, id);
  const attempt = o.attempt === undefined || o.attempt === null ? null : o.attempt;
  if (attempt !== null && !(Number.isInteger(attempt) && typeof attempt === 'number' && attempt >= 1)) {
    throw invalid('attempt', 'expected a positive integer', id);
  }
  return { clientMsgId, attempt: attempt as number | null };
}

export interface ParseLimits {
  maxBodyChars: number;
  maxGroupMembers: number;
  maxHistoryLimit: number;
}

/**
 * Parses one client text frame. Throws `ChatError` (bad_frame, unknown_op, invalid_field); the
 * request id, when one could be read, is in `details.requestId` so the error can echo it.
 */
export function parseClientFrame(text: string, limits: ParseLimits): ParsedClientFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ChatError(ErrorCode.BadFrame, 'frame is not valid JSON');
  }
  return parseClientRequest(raw, limits);
}

/**
 * Validates an already-decoded request object (a parsed text frame, or a Socket.IO event's
 * payload with `op` set to the event name). Same errors as `parseClientFrame`.
 */
export function parseClientRequest(raw: unknown, limits: ParseLimits): ParsedClientFrame {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ChatError(ErrorCode.BadFrame, 'frame must be a JSON object');
  }
  const o = raw as Obj;
  const reqId = typeof o.id === 'string' && o.id.length > 0 && o.id.length <= REQUEST_ID_MAX ? o.id : null;
  const op = o.op;
  if (typeof op !== 'string') throw invalid('op', 'expected a string', reqId);
  if (op === 'ack') {
    const ids = o.messageIds;
    if (!Array.isArray(ids) || ids.length > 1000)
      throw invalid('messageIds', 'expected an array (≤1000)', reqId);
    const messageIds: bigint[] = [];
    for (const v of ids) {
      const id = typeof v === 'string' ? parseId(v) : null;
      if (id === null) throw invalid('messageIds', 'expected message ids (decimal strings)', reqId);
      messageIds.push(id);
    }
    return { op, messageIds };
  }
  if (op === 'typing') {
    if (o.id !== undefined && o.id !== null && reqId === null) {
      throw invalid('id', `request id: string of 1..${REQUEST_ID_MAX} characters`, null);
    }
    return { op, id: reqId, conversationId: conversationField(o, reqId) };
  }
  if (!(CLIENT_OPS as readonly string[]).includes(op)) {
    throw new ChatError(
      ErrorCode.UnknownOp,
      `unknown op "${op.slice(0, 32)}"`,
      reqId ? { requestId: reqId } : undefined,
    );
  }
  if (reqId === null) throw invalid('id', `request id: string of 1..${REQUEST_ID_MAX} characters`, null);
  const id = reqId;
  switch (op as Exclude<ClientOp, 'ack' | 'typing'>) {
    case 'send': {
      const conversationId = conversationField(o, id);
      const attachments = attachmentList(o, id);
      // A message of attachments alone may have no text.
      const body = bodyField(o, limits, id, attachments.length > 0 ? 0 : 1);
      return {
        op: 'send',
        id,
        conversationId,
        body,
        ...resendFields(o, id),
        attachments,
        replyTo: optId(o, 'replyTo', id),
      };
    }
    case 'edit':
    case 'delete': {
      const conversationId = conversationField(o, id);
      const messageId = optId(o, 'messageId', id);
      if (messageId === null) throw invalid('messageId', 'required', id);
      if (op === 'delete') return { op: 'delete', id, conversationId, messageId, ...resendFields(o, id) };
      const body = bodyField(o, limits, id);
      return { op: 'edit', id, conversationId, messageId, body, ...resendFields(o, id) };
    }
    case 'react':
    case 'unreact': {
      const conversationId = conversationField(o, id);
      const messageId = optId(o, 'messageId', id);
      if (messageId === null) throw invalid('messageId', 'required', id);
      const emoji = str(o, 'emoji', EMOJI, EMOJI_MAX, id);
      return { op: op as 'react' | 'unreact', id, conversationId, messageId, emoji, ...resendFields(o, id) };
    }
    case 'openDirect':
      return { op: 'openDirect', id, userId: str(o, 'userId', USER_ID, 64, id) };
    case 'createGroup': {
      const title = str(o, 'title', null, TITLE_MAX, id);
      return { op: 'createGroup', id, title, members: userList(o, 'members', limits.maxGroupMembers, id) };
    }
    case 'addMembers':
    case 'removeMembers': {
      const conversationId = conversationField(o, id);
      const userIds = userList(o, 'userIds', limits.maxGroupMembers, id);
      if (userIds.length === 0) throw invalid('userIds', 'must not be empty', id);
      return { op: op as 'addMembers' | 'removeMembers', id, conversationId, userIds };
    }
    case 'listConversations':
      return { op: 'listConversations', id };
    case 'setRole': {
      const conversationId = conversationField(o, id);
      const userId = str(o, 'userId', USER_ID, 64, id);
      const role = o.role;
      if (role !== 'admin' && role !== 'member') throw invalid('role', 'expected "admin" or "member"', id);
      return { op: 'setRole', id, conversationId, userId, role };
    }
    case 'ban':
    case 'unban':
      return {
        op: op as 'ban' | 'unban',
        id,
        conversationId: conversationField(o, id),
        userId: str(o, 'userId', USER_ID, 64, id),
      };
    case 'block':
    case 'unblock':
      return { op: op as 'block' | 'unblock', id, userId: str(o, 'userId', USER_ID, 64, id) };
    case 'listBlocks':
      return { op: 'listBlocks', id };
    case 'history':
    case 'thread': {
      const conversationId = conversationField(o, id);
      const before = optId(o, 'before', id);
      const after = optId(o, 'after', id);
      if (before !== null && after !== null) throw invalid('after', 'give before or after, not both', id);
      let limit = 50;
      if (o.limit !== undefined) {
        if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1) {
          throw invalid('limit', 'expected a positive integer', id);
        }
        limit = Math.min(o.limit, limits.maxHistoryLimit);
      }
      if (op === 'history') return { op: 'history', id, conversationId, before, after, limit };
      const rootId = optId(o, 'rootId', id);
      if (rootId === null) throw invalid('rootId', 'required', id);
      return { op: 'thread', id, conversationId, rootId, before, after, limit };
    }
    case 'read': {
      const conversationId = conversationField(o, id);
      const messageId = optId(o, 'messageId', id);
      if (messageId === null) throw invalid('messageId', 'required', id);
      return { op: 'read', id, conversationId, messageId };
    }
    case 'mute':
    case 'unmute':
      return { op: op as 'mute' | 'unmute', id, conversationId: conversationField(o, id) };
    case 'search': {
      const query = str(o, 'query', null, SEARCH_QUERY_MAX_CHARS, id);
      const terms = searchTerms(query).length;
      if (terms === 0) throw invalid('query', 'has no words to search for', id);
      if (terms > SEARCH_MAX_TERMS) throw invalid('query', `at most ${SEARCH_MAX_TERMS} words`, id);
      const conversationId =
        o.conversationId === undefined || o.conversationId === null ? null : conversationField(o, id);
      let limit = SEARCH_DEFAULT_LIMIT;
      if (o.limit !== undefined) {
        if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1) {
          throw invalid('limit', 'expected a positive integer', id);
        }
        limit = Math.min(o.limit, SEARCH_MAX_LIMIT);
      }
      return { op: 'search', id, query, conversationId, before: optId(o, 'before', id), limit };
    }
    case 'sync':
      return {
        op: 'sync',
        id,
        position: optPosition(o.position, 'position', id),
        since: optId(o, 'since', id),
      };
    case 'presence': {
      const userIds = userList(o, 'userIds', MAX_PRESENCE_QUERY, id);
      return { op: 'presence', id, userIds };
    }
    case 'subscribePresence': {
      const userIds = userList(o, 'userIds', MAX_PRESENCE_QUERY, id);
      if (userIds.length === 0) throw invalid('userIds', 'must not be empty', id);
      return { op: 'subscribePresence', id, userIds };
    }
    case 'unsubscribePresence': {
      const userIds =
        o.userIds === undefined || o.userIds === null ? null : userList(o, 'userIds', MAX_PRESENCE_QUERY, id);
      return { op: 'unsubscribePresence', id, userIds };
    }
    case 'setAway': {
      if (typeof o.away !== 'boolean') throw invalid('away', 'expected a boolean', id);
      return { op: 'setAway', id, away: o.away };
    }
    case 'ping':
      return { op: 'ping', id };
  }
}
