/**
 * Client → server frames, in the two shapes they have: `ClientFrame` is what goes on the wire
 * (what the SDK builds: ids as decimal strings, optional fields may be left out) and
 * `ParsedClientFrame` is what the gateway handles once `parseClientRequest` has validated one
 * (ids as bigints, absent fields as null, defaults filled in). Both are unions on `op`; the type
 * test (test/protocol.types.test.ts) checks they list the same operations.
 */

import type { ResumePosition } from './position.ts';

/**
 * The role `setRole` gives. A group's owner is its creator (`createdBy`): ownership is not a role
 * one can give or take.
 */
export type GroupRoleName = 'admin' | 'member';

/** A client frame as sent on the wire (docs/protocol.md, "Client → server"). */
/**
 * `react` and `unreact` share their fields; one member per op so that `RequestOf<'react'>`
 * (an `Extract` by op) finds it.
 */
interface ReactionFrame<Op extends 'react' | 'unreact'> {
  op: Op;
  id: string;
  conversationId: string;
  messageId: string;
  emoji: string;
  clientMsgId?: string | null;
  attempt?: number | null;
}

export type ClientFrame =
  /**
   * `attempt`: 1 says no earlier attempt of this `clientMsgId` was ever sent, which spares the
   * server a lookup; any other value, or none, says there may have been one. `replyTo`: the id
   * of a message of the same conversation this one replies to.
   */
  | {
      op: 'send';
      id: string;
      conversationId: string;
      /** May be empty when `attachments` names at least one. */
      body: string;
      clientMsgId?: string | null;
      attempt?: number | null;
      /** Ids of attachments the sender uploaded to this conversation (docs/protocol.md, "Attachments"). */
      attachments?: string[] | null;
      replyTo?: string | null;
    }
  /**
   * Edit (new `body`) or delete a message the user sent. `clientMsgId`/`attempt` as for `send`: a
   * resend with the same `clientMsgId` is answered with the first attempt's change.
   */
  | {
      op: 'edit';
      id: string;
      conversationId: string;
      messageId: string;
      body: string;
      clientMsgId?: string | null;
      attempt?: number | null;
    }
  | {
      op: 'delete';
      id: string;
      conversationId: string;
      messageId: string;
      clientMsgId?: string | null;
      attempt?: number | null;
    }
  /** Add (`react`) or remove (`unreact`) this user's reaction `emoji` on a message. */
  | ReactionFrame<'react'>
  | ReactionFrame<'unreact'>
  | { op: 'openDirect'; id: string; userId: string }
  | { op: 'createGroup'; id: string; title: string; members: string[] }
  | { op: 'addMembers'; id: string; conversationId: string; userIds: string[] }
  | { op: 'removeMembers'; id: string; conversationId: string; userIds: string[] }
  | { op: 'listConversations'; id: string }
  /** Owner only: make a member of a group an admin, or an admin a member again. */
  | { op: 'setRole'; id: string; conversationId: string; userId: string; role: GroupRoleName }
  /** Admins and owner: remove a user from a group (if a member) and keep them out until `unban`. */
  | { op: 'ban'; id: string; conversationId: string; userId: string }
  | { op: 'unban'; id: string; conversationId: string; userId: string }
  /** Stop `userId` sending to this user in their direct conversation, or opening one. */
  | { op: 'block'; id: string; userId: string }
  | { op: 'unblock'; id: string; userId: string }
  | { op: 'listBlocks'; id: string }
  | {
      op: 'history';
      id: string;
      conversationId: string;
      before?: string | null;
      after?: string | null;
      limit?: number;
    }
  /** A page of the replies under thread root `rootId`; cursors and limit as for `history`. */
  | {
      op: 'thread';
      id: string;
      conversationId: string;
      rootId: string;
      before?: string | null;
      after?: string | null;
      limit?: number;
    }
  | { op: 'read'; id: string; conversationId: string; messageId: string }
  /** Stop (`mute`) or resume (`unmute`) the offline hook (push) for this conversation's messages. */
  | { op: 'mute'; id: string; conversationId: string }
  | { op: 'unmute'; id: string; conversationId: string }
  /**
   * `query`: words that must all be in a message (src/protocol/search.ts). Without
   * `conversationId`: every conversation of the user. `before`: the previous page's `nextBefore`.
   */
  | {
      op: 'search';
      id: string;
      query: string;
      conversationId?: string | null;
      before?: string | null;
      limit?: number;
    }
  | { op: 'ack'; messageIds: string[] }
  /**
   * `position`: the resume position the client holds (a `pos` or a `synced.position`). `since`:
   * the legacy form, the newest message id seen (can miss late arrivals); a position wins.
   */
  | { op: 'sync'; id: string; position?: string | null; since?: string | null }
  | { op: 'presence'; id: string; userIds: string[] }
  | { op: 'subscribePresence'; id: string; userIds: string[] }
  /** Without `userIds`: every subscription of this connection. */
  | { op: 'unsubscribePresence'; id: string; userIds?: string[] | null }
  | { op: 'setAway'; id: string; away: boolean }
  /** `id` is optional: without one nothing is sent back unless it fails. */
  | { op: 'typing'; id?: string | null; conversationId: string }
  | { op: 'ping'; id: string };

/** A client frame after validation: what the gateway's operations receive. */
/** `react` / `unreact` after validation (one member per op, as `ReactionFrame`). */
interface ParsedReactionFrame<Op extends 'react' | 'unreact'> {
  op: Op;
  id: string;
  conversationId: string;
  messageId: bigint;
  emoji: string;
  clientMsgId: string | null;
  attempt: number | null;
}

export type ParsedClientFrame =
  | {
      op: 'send';
      id: string;
      conversationId: string;
      body: string;
      clientMsgId: string | null;
      /** Absent on the wire: null (the server then assumes there may have been an earlier attempt). */
      attempt: number | null;
      /** Absent on the wire: empty. Distinct, well-formed ids; the gateway checks each exists. */
      attachments: string[];
      replyTo: bigint | null;
    }
  | {
      op: 'edit';
      id: string;
      conversationId: string;
      messageId: bigint;
      body: string;
      clientMsgId: string | null;
      attempt: number | null;
    }
  | {
      op: 'delete';
      id: string;
      conversationId: string;
      messageId: bigint;
      clientMsgId: string | null;
      attempt: number | null;
    }
  | ParsedReactionFrame<'react'>
  | ParsedReactionFrame<'unreact'>
  | { op: 'openDirect'; id: string; userId: string }
  | { op: 'createGroup'; id: string; title: string; members: string[] }
  | { op: 'addMembers'; id: string; conversationId: string; userIds: string[] }
  | { op: 'removeMembers'; id: string; conversationId: string; userIds: string[] }
  | { op: 'listConversations'; id: string }
  | { op: 'setRole'; id: string; conversationId: string; userId: string; role: GroupRoleName }
  | { op: 'ban'; id: string; conversationId: string; userId: string }
  | { op: 'unban'; id: string; conversationId: string; userId: string }
  | { op: 'block'; id: string; userId: string }
  | { op: 'unblock'; id: string; userId: string }
  | { op: 'listBlocks'; id: string }
  | {
      op: 'history';
      id: string;
      conversationId: string;
      before: bigint | null;
      after: bigint | null;
      limit: number;
    }
  | {
      op: 'thread';
      id: string;
      conversationId: string;
      rootId: bigint;
      before: bigint | null;
      after: bigint | null;
      limit: number;
    }
  | { op: 'read'; id: string; conversationId: string; messageId: bigint }
  | { op: 'mute'; id: string; conversationId: string }
  | { op: 'unmute'; id: string; conversationId: string }
  /** `query` has 1..SEARCH_MAX_TERMS search terms; `conversationId` null: all of the user's. */
  | {
      op: 'search';
      id: string;
      query: string;
      conversationId: string | null;
      before: bigint | null;
      limit: number;
    }
  | { op: 'ack'; messageIds: bigint[] }
  | { op: 'sync'; id: string; position: ResumePosition | null; since: bigint | null }
  | { op: 'presence'; id: string; userIds: string[] }
  | { op: 'subscribePresence'; id: string; userIds: string[] }
  /** `userIds` null: every subscription of this connection. */
  | { op: 'unsubscribePresence'; id: string; userIds: string[] | null }
  | { op: 'setAway'; id: string; away: boolean }
  /** `id` null: nothing is sent back unless the request fails. */
  | { op: 'typing'; id: string | null; conversationId: string }
  | { op: 'ping'; id: string };

export type ClientOp = ClientFrame['op'];

/** Every op, for the validator's "is this an op at all" check. */
export const CLIENT_OPS = [
  'send',
  'edit',
  'delete',
  'react',
  'unreact',
  'openDirect',
  'createGroup',
  'addMembers',
  'removeMembers',
  'listConversations',
  'setRole',
  'ban',
  'unban',
  'block',
  'unblock',
  'listBlocks',
  'history',
  'thread',
  'read',
  'mute',
  'unmute',
  'search',
  'ack',
  'sync',
  'presence',
  'subscribePresence',
  'unsubscribePresence',
  'setAway',
  'typing',
  'ping',
] as const satisfies readonly ClientOp[];

/** The wire frame of one op. */
export type RequestOf<Op extends ClientOp> = Extract<ClientFrame, { op: Op }>;
/** The parsed frame of one op. */
export type ParsedRequestOf<Op extends ClientOp> = Extract<ParsedClientFrame, { op: Op }>;
