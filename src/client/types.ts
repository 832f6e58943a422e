/**
 * Wire protocol v1 as the client sees it, re-declared here so the SDK imports nothing from the
 * server. These shapes must stay identical to docs/protocol.md and src/gateway/protocol.ts; on the
 * wire every message id is a decimal string.
 */

/** The subprotocol the client offers; the gateway echoes it back. */
export const SUBPROTOCOL = 'chat.v1';
export const PROTOCOL_VERSION = 1;

/** Stable error codes the gateway sends in `error` frames (docs/protocol.md, "Errors"). */
export type ServerErrorCode =
  | 'bad_frame'
  | 'unknown_op'
  | 'invalid_field'
  | 'not_found'
  | 'forbidden'
  | 'rate_limited'
  | 'frame_too_large'
  | 'unavailable'
  | 'shutting_down'
  | 'internal';

export interface WireMessage {
  id: string;
  conversationId: string;
  senderId: string;
  clientMsgId: string | null;
  body: string;
  createdAt: number;
}

export interface WireConversation {
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  createdBy: string;
  createdAt: number;
  members: string[];
}

export interface WireConversationSummary extends Omit<WireConversation, 'members'> {
  lastMessage: WireMessage | null;
  unreadCount: number;
  lastReadId: string | null;
}

export type PresenceStatus = 'online' | 'away' | 'offline';

/** PresenceInfo in docs/protocol.md. */
export interface WirePresence {
  userId: string;
  status: PresenceStatus;
  lastSeen: number | null;
  devices: number;
  gateways: string[];
}

export interface WelcomeLimits {
  maxFrameBytes: number;
  maxBodyChars: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
}

// ---- client → server ---------------------------------------------------------------------

export type ClientFrame =
  | { op: 'send'; id: string; conversationId: string; body: string; clientMsgId?: string | null }
  | { op: 'openDirect'; id: string; userId: string }
  | { op: 'createGroup'; id: string; title: string; members: string[] }
  | { op: 'addMembers'; id: string; conversationId: string; userIds: string[] }
  | { op: 'removeMembers'; id: string; conversationId: string; userIds: string[] }
  | { op: 'listConversations'; id: string }
  | {
      op: 'history';
      id: string;
      conversationId: string;
      before?: string | null;
      after?: string | null;
      limit?: number;
    }
  | { op: 'read'; id: string; conversationId: string; messageId: string }
  | { op: 'ack'; messageIds: string[] }
  | { op: 'sync'; id: string; since?: string | null }
  | { op: 'presence'; id: string; userIds: string[] }
  | { op: 'subscribePresence'; id: string; userIds: string[] }
  /** Without `userIds`: every subscription of this connection. */
  | { op: 'unsubscribePresence'; id: string; userIds?: string[] | null }
  | { op: 'setAway'; id: string; away: boolean }
  /** `id` is optional: without one nothing is sent back unless it fails. */
  | { op: 'typing'; id?: string | null; conversationId: string }
  | { op: 'ping'; id: string };

// ---- server → client ---------------------------------------------------------------------

export interface WelcomeFrame {
  op: 'welcome';
  v: number;
  userId: string;
  connectionId: string;
  region: string;
  gatewayId: string;
  serverTime: number;
  limits: WelcomeLimits;
}

export interface SentFrame {
  op: 'sent';
  id: string;
  messageId: string;
  conversationId: string;
  createdAt: number;
  duplicate: boolean;
}

export interface ResultFrame {
  op: 'result';
  id: string;
  data: unknown;
}

export interface ErrorFrame {
  op: 'error';
  id: string | null;
  code: string;
  message: string;
  details?: Record<string, string | number>;
}

export interface MessageFrame {
  op: 'message';
  message: WireMessage;
  replay: boolean;
}

export interface SyncedFrame {
  op: 'synced';
  id: string | null;
  count: number;
  lastId: string | null;
  truncated: boolean;
}

export interface ConversationFrame {
  op: 'conversation';
  conversation: WireConversation;
  event: 'created' | 'members_added' | 'members_removed';
}

export interface ReceiptFrame {
  op: 'receipt';
  conversationId: string;
  userId: string;
  messageId: string;
}

export interface PongFrame {
  op: 'pong';
  id: string;
  serverTime: number;
}

/** A watched user's status changed (after `subscribePresence`). */
export interface PresenceFrame {
  op: 'presence';
  userId: string;
  status: PresenceStatus;
  lastSeen: number | null;
  devices: number;
}

/** A member is typing: show it until `expiresAt` or until a message from them arrives. */
export interface TypingFrame {
  op: 'typing';
  conversationId: string;
  userId: string;
  expiresAt: number;
}

/** Socket.IO transport only (a WebSocket has close frames): sent just before a disconnect. */
export interface CloseFrame {
  op: 'close';
  code: number;
  reason: string;
}

export type ServerFrame =
  | WelcomeFrame
  | SentFrame
  | ResultFrame
  | ErrorFrame
  | MessageFrame
  | SyncedFrame
  | ConversationFrame
  | ReceiptFrame
  | PresenceFrame
  | TypingFrame
  | CloseFrame
  | PongFrame;

// ---- request results (`result.data`) -----------------------------------------------------

export interface ConversationResult {
  conversation: WireConversation;
}

export interface ListConversationsResult {
  conversations: WireConversationSummary[];
}

export interface HistoryResult {
  order: 'newest_first' | 'oldest_first';
  messages: WireMessage[];
  hasMore: boolean;
}

/** For `presence` and `subscribePresence`: in the order asked. */
export interface PresenceResult {
  users: WirePresence[];
}

/** For `read`, `unsubscribePresence` and `setAway`. */
export interface OkResult {
  ok: boolean;
}

export interface TypingResult {
  ok: boolean;
  /** Another typing frame for this conversation went out within `limits.typingIntervalMs`. */
  coalesced: boolean;
  expiresAt: number;
}
