/**
 * Server → client frames (docs/protocol.md, "Server → client"), and what each request is
 * answered with (`Replies`): `ResultOf<'history'>` is the `data` of the `result` frame that
 * answers a `history` request, `ReplyOf<'send'>` the frame that answers a `send`. The gateway builds its
 * replies against these types and the SDK reads them with the same ones, so a reply that changes
 * on one side fails to compile on the other.
 */
import type { ErrorCode } from './errors.ts';

// ---- shared shapes -------------------------------------------------------------------------

/** Message in docs/protocol.md. */
export interface WireMessage {
  id: string;
  conversationId: string;
  senderId: string;
  clientMsgId: string | null;
  /** Empty once deleted. */
  body: string;
  createdAt: number;
  /** Files the message references; absent when none (docs/protocol.md, "Attachments"). */
  attachments?: WireAttachment[];
  /**
   * Present once the message was edited or deleted; absent on a message never changed. The
   * field `revision` orders states: keep the one with the larger revision, except that a
   * deleted state is final.
   */
  state?: WireMessageState;
  /** Present once someone reacted (and not on a deleted message). */
  reactions?: WireReactions;
  /**
   * On a reply: the message it replies to, quoted as it is when this frame was built (so an
   * edit of the parent shows, and a deleted parent is quoted with no text).
   */
  replyTo?: WireReplyQuote;
  /** On a reply: the id of its thread's root (threads are one level: replies to replies join it). */
  threadRoot?: string;
  /** On a thread root with replies: how many, and the newest. */
  thread?: WireThread;
  /**
   * On a reply: its root's `thread` as of this frame (counting this reply), so a client updates
   * the root it shows without another request. Keep the one with the larger `replyCount`.
   */
  rootThread?: WireThread;
}

/** A reply's quote of its parent (ReplyQuote in docs/protocol.md). */
export interface WireReplyQuote {
  id: string;
  senderId: string;
  /** The parent's body, cut to its first 100 characters (code points); empty once deleted. */
  preview: string;
  deleted: boolean;
}

/** A thread root's replies (Thread in docs/protocol.md). */
export interface WireThread {
  replyCount: number;
  /** The newest reply's id and time (ms). */
  lastReplyId: string;
  lastReplyAt: number;
}

/** Reactions on a message (Reactions in docs/protocol.md). */
export interface WireReactions {
  /** The last reaction change applied: keep the reactions with the larger revision. */
  revision: string;
  /** Sorted by emoji; only emoji someone reacts with now. */
  entries: Array<{ emoji: string; count: number; users: string[] }>;
}

/** What edits and deletes made of a message (MessageState in docs/protocol.md). */
export interface WireMessageState {
  /** Id of the last change applied (a decimal string, ordered like message ids). */
  revision: string;
  deleted: boolean;
  /** When it was last edited (ms), null if never. */
  editedAt: number | null;
  editCount: number;
}

/** Attachment in docs/protocol.md: what a message says about a file it references. */
export interface WireAttachment {
  id: string;
  contentType: string;
  /** Bytes. */
  size: number;
  name: string | null;
  /** Pixels, for images; null for other files. */
  width: number | null;
  height: number | null;
}

/** Conversation in docs/protocol.md. */
export interface WireConversation {
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  /** The creator; in a group, its owner (docs/protocol.md, "Moderation"). */
  createdBy: string;
  createdAt: number;
  members: string[];
  /** Members who are admins of the group, sorted (never the owner; always empty for a DM). */
  admins: string[];
}

/** ConversationSummary in docs/protocol.md. */
export interface WireConversationSummary extends Omit<WireConversation, 'members' | 'admins'> {
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
  /** How long after sending a message its sender may edit it (ms). */
  editWindowMs: number;
  /** Distinct reactions one message may carry. */
  maxReactionsPerMessage: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
}

// ---- request results (`result.data`) -------------------------------------------------------

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

/** For `search`: matches newest first. */
export interface SearchResult {
  messages: WireMessage[];
  /**
   * Send it back as `before` for the next page; null when nothing older matches. A page may hold
   * fewer than `limit` messages (even none) and still have a `nextBefore`: the server bounds the
   * work of one request and says where it stopped.
   */
  nextBefore: string | null;
}

/** For `thread`: the root as it is now and a page of its replies, in `order`. */
export interface ThreadResult {
  root: WireMessage;
  order: 'newest_first' | 'oldest_first';
  messages: WireMessage[];
  hasMore: boolean;
}

/** For `edit`, `delete`, `react` and `unreact`: the change, and the message's state after it. */
export interface ChangeResult {
  /** The change's id (also its `update` frames' `changeId`). */
  changeId: string;
  /** The message as it is now: this change's state, or a newer one that won. */
  message: WireMessage;
  /** True when a resend (same clientMsgId) was answered with the first attempt's change. */
  duplicate: boolean;
}

/** For `presence` and `subscribePresence`: in the order asked. */
export interface PresenceResult {
  users: WirePresence[];
}

/** For `ban` and `unban`: the group as it is now, and whom it bans. */
export interface BanResult {
  conversation: WireConversation;
  banned: string[];
}

/** For `block`, `unblock` and `listBlocks`: whom the user blocks now, sorted. */
export interface BlocksResult {
  blocked: string[];
}

/** For `read`, `unsubscribePresence` and `setAway`. */
export interface OkResult {
  ok: boolean;
}

/** For `mute` and `unmute`: the setting that stands for the conversation now. */
export interface MuteResult {
  conversationId: string;
  muted: boolean;
}

export interface TypingResult {
  ok: boolean;
  /** Another typing frame for this conversation went out within `limits.typingIntervalMs`. */
  coalesced: boolean;
  expiresAt: number;
}

/** Any request's result data. */
export type ResultData =
  | ConversationResult
  | ListConversationsResult
  | HistoryResult
  | SearchResult
  | ThreadResult
  | ChangeResult
  | PresenceResult
  | BanResult
  | BlocksResult
  | OkResult
  | MuteResult
  | TypingResult;

// ---- frames ------------------------------------------------------------------------------

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

/** The reply to `send`, once the message is durable. */
export interface SentFrame {
  op: 'sent';
  id: string;
  messageId: string;
  conversationId: string;
  createdAt: number;
  duplicate: boolean;
  /**
   * On a reply: its thread's root and the root's summary once the reply was recorded (the
   * sending connection gets no `message` frame of its own reply to learn the count from).
   */
  threadRoot?: string;
  rootThread?: WireThread;
}

/** The reply to the requests answered with data (`ResultOp`), generic in that data. */
export interface ResultFrame<Data extends object = ResultData> {
  op: 'result';
  id: string;
  data: Data;
}

export interface ErrorFrame {
  op: 'error';
  id: string | null;
  code: ErrorCode;
  message: string;
  details?: Record<string, string | number>;
}

export interface MessageFrame {
  op: 'message';
  message: WireMessage;
  replay: boolean;
  /**
   * On live frames only: the resume position right after this message (opaque; keep the newest
   * one received and send it back as `resume`). Replayed frames carry none.
   */
  pos?: string;
}

/**
 * A message was edited or deleted: `message` is its whole current state (on a delete, with an
 * empty body). Sent live (with `pos`) and in replays (`replay: true`; an offline-queue entry is
 * acked by `changeId`). Keep the state with the larger `message.state.revision`; a deleted one
 * is final. The same change may arrive twice, and a newer state may arrive before an older one.
 */
export interface UpdateFrame {
  op: 'update';
  changeId: string;
  kind: 'edit' | 'delete' | 'react' | 'unreact';
  /**
   * Who made the change: the sender for an edit, the reactor for a reaction; for a delete the
   * sender, or a group admin or owner who deleted someone else's message.
   */
  by: string;
  message: WireMessage;
  replay: boolean;
  pos?: string;
}

/** The end of a replay: on connect (`id` null) or answering `sync`. */
export interface SyncedFrame {
  op: 'synced';
  id: string | null;
  count: number;
  lastId: string | null;
  truncated: boolean;
  /**
   * The resume position after this replay (opaque). When `truncated`, it continues the replay
   * from where it stopped: send it back at once (`sync`) for the rest.
   */
  position: string;
}

export interface ConversationFrame {
  op: 'conversation';
  conversation: WireConversation;
  /** `roles_changed`: the owner made someone an admin or a member again (`conversation.admins`). */
  event: 'created' | 'members_added' | 'members_removed' | 'roles_changed';
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
  | UpdateFrame
  | SyncedFrame
  | ConversationFrame
  | ReceiptFrame
  | PresenceFrame
  | TypingFrame
  | CloseFrame
  | PongFrame;

export type ServerOp = ServerFrame['op'];

/**
 * The frame that answers each request when it succeeds (any request may instead get an `error`).
 * `ack` is never answered, and `typing` without an `id` is not either. One table, so that both
 * `ReplyOf<Op>` and `ResultOf<Op>` stay plain lookups a generic `Op` can index.
 */
export interface Replies {
  send: SentFrame;
  edit: ResultFrame<ChangeResult>;
  delete: ResultFrame<ChangeResult>;
  react: ResultFrame<ChangeResult>;
  unreact: ResultFrame<ChangeResult>;
  sync: SyncedFrame;
  ping: PongFrame;
  openDirect: ResultFrame<ConversationResult>;
  createGroup: ResultFrame<ConversationResult>;
  addMembers: ResultFrame<ConversationResult>;
  removeMembers: ResultFrame<ConversationResult>;
  listConversations: ResultFrame<ListConversationsResult>;
  setRole: ResultFrame<ConversationResult>;
  ban: ResultFrame<BanResult>;
  unban: ResultFrame<BanResult>;
  block: ResultFrame<BlocksResult>;
  unblock: ResultFrame<BlocksResult>;
  listBlocks: ResultFrame<BlocksResult>;
  history: ResultFrame<HistoryResult>;
  thread: ResultFrame<ThreadResult>;
  read: ResultFrame<OkResult>;
  mute: ResultFrame<MuteResult>;
  unmute: ResultFrame<MuteResult>;
  search: ResultFrame<SearchResult>;
  presence: ResultFrame<PresenceResult>;
  subscribePresence: ResultFrame<PresenceResult>;
  unsubscribePresence: ResultFrame<OkResult>;
  setAway: ResultFrame<OkResult>;
  typing: ResultFrame<TypingResult>;
}

/** The ops that are answered at all: every one but `ack`. */
export type ReplyOp = keyof Replies;
/** The frame that answers `Op`. */
export type ReplyOf<Op extends ReplyOp> = Replies[Op];
/** Every frame that answers a request. */
export type ReplyFrame = Replies[ReplyOp];

/** The ops answered with a `result` frame. */
export type ResultOp = {
  [Op in ReplyOp]: Replies[Op] extends ResultFrame ? Op : never;
}[ReplyOp];
/** The `data` of the `result` frame that answers `Op`: `ResultOf<'history'>` is a history page. */
export type ResultOf<Op extends ResultOp> = Replies[Op]['data'];

/** Builds the `result` frame answering `op`; `data` is checked against `ResultOf<op>`. */
export function resultFrame<Op extends ResultOp>(
  _op: Op,
  id: string,
  data: ResultOf<Op>,
): ResultFrame<ResultOf<Op>> {
  return { op: 'result', id, data };
}
