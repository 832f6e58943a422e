/** The client's public option and event types. */

import type { BackoffOptions } from './backoff.ts';
import type { ChatClientError } from './errors.ts';
import type { SentInfo } from './outbox.ts';
import type { WebSocketConstructor } from './socket.ts';
import type { ClientStorage } from './storage.ts';
import type { ThreadEvent } from './threads.ts';
import type { TokenSource } from './token.ts';
import type {
  ConversationFrame,
  PresenceFrame,
  TypingFrame,
  WireConversation,
  WireConversationSummary,
  WireMessage,
} from './types.ts';

/** Long enough for a replay or a cross-region write under load; short enough to notice a dead socket. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/**
 * A ping after 5 s without a frame: with the 4 s timeout a frozen gateway is left within 9 s even
 * on an idle connection (within about 5 s while requests are waiting, see `liveness.ts`), so its
 * users send through another region within 10 s. Far under the gateway's idle timeout (120 s) and
 * proxy idle cuts (60 s); an idle client costs its gateway one small frame each way per 5 s.
 */
export const DEFAULT_PING_INTERVAL_MS = 5000;
/** A round trip to a live gateway takes milliseconds; 4 s also covers a congested mobile link. */
export const DEFAULT_PING_TIMEOUT_MS = 4000;
/**
 * Three `unavailable` answers in a row, the first at least 3 s ago: longer than a store or NATS
 * blip that a resend rides out, shorter than the gateway's own verdict (5 s, then close 4503) plus
 * its probe interval, for a region that fails its writes while its probes still pass.
 */
export const DEFAULT_FAILOVER_AFTER_UNAVAILABLE = 3;
export const DEFAULT_FAILOVER_AFTER_UNAVAILABLE_MS = 3000;
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface StateChange {
  state: ConnectionState;
  /** The gateway connected to, or about to be tried; null when closed. */
  url: string | null;
  /** The region that gateway reported in its `welcome` (the last one seen from this URL), if any. */
  region: string | null;
  /** The connected gateway's id (`connected` only). */
  gatewayId: string | null;
  /** Consecutive attempts that failed to reach a synced session. */
  failures: number;
  /** `reconnecting`: milliseconds until the next attempt. */
  delayMs?: number;
  /** `reconnecting`: close code of the socket that dropped (1006 when there was none). */
  closeCode?: number;
}

export interface SyncedInfo {
  /** True for the replay that follows a (re)connect, false for an explicit `sync()`. */
  initial: boolean;
  /** Messages the server replayed (before deduplication). */
  count: number;
  lastId: string | null;
  /** More was missed than the server replays at once; the client continues with `sync()` itself. */
  truncated: boolean;
  /** The resume position the replay ended with ('' from a server without positions). */
  position: string;
}

export interface ConversationEvent {
  conversation: WireConversation;
  event: ConversationFrame['event'];
}

export interface ReceiptEvent {
  conversationId: string;
  userId: string;
  messageId: string;
}

export interface HistoryQuery {
  /** Older than this id, newest first. */
  before?: string;
  /** Newer than this id, oldest first. */
  after?: string;
  /** Default 50, server cap 200. */
  limit?: number;
}

/** What `ChatClient.search` asks for (docs/protocol.md, `search`). */
export interface SearchRequest {
  /** Words that must all be in a message, in any case (at most 8 words, 200 characters). */
  query: string;
  /** Only this conversation; default: every conversation the user belongs to. */
  conversationId?: string;
  /** The previous page's `nextBefore`. */
  before?: string;
  /** Default 20, server cap 50. */
  limit?: number;
}

/** Event name → listener arguments. */
export interface UpdateMeta {
  changeId: string;
  kind: 'edit' | 'delete' | 'react' | 'unreact';
  /**
   * Who made the change: the sender, the reactor, or for a delete possibly a group admin. For a
   * change this client made, its own user id.
   */
  by: string;
  replay: boolean;
}

export interface ChatClientEvents {
  /** A message not delivered before, per conversation in id order. */
  message: [message: WireMessage, meta: { replay: boolean }];
  /**
   * A message was edited, deleted or reacted to: `message` is its whole current state (body
   * empty once deleted). Emitted once per newer version (repeats and older ones are dropped:
   * `MessageStates`), for other devices' changes and, once the server answered, this client's
   * own `edit`/`delete`/`react`/`unreact`.
   */
  update: [message: WireMessage, meta: UpdateMeta];
  conversation: [event: ConversationEvent];
  receipt: [receipt: ReceiptEvent];
  /**
   * A watched user's status changed (`subscribePresence`), forwarded as the server sent it; also
   * emitted with the fresh state of every watched user after a reconnect.
   */
  presence: [frame: PresenceFrame];
  /** A member is typing, forwarded as the server sent it. */
  typing: [frame: TypingFrame];
  /** Something went wrong that no promise reports (connection, storage, a server error without id). */
  error: [error: ChatClientError];
  state: [change: StateChange];
  /**
   * A thread root's reply count grew: told by a reply (live or replayed, its `rootThread`) or a
   * `thread()` page. Once per larger count (`ThreadCounts`).
   */
  thread: [event: ThreadEvent];
  /** A replay ended and its messages were delivered. */
  synced: [info: SyncedInfo];
  /**
   * The conversation list, read after every (re)connect's replay: conversation events and
   * receipts missed while away are not replayed, their result (members, unread counts, read
   * markers) is here. Off with `refreshConversations: false`.
   */
  conversations: [conversations: WireConversationSummary[]];
  /** An outbox message was acked, including ones restored from storage that no promise awaits. */
  sent: [info: SentInfo];
}

export interface ChatClientOptions {
  /** Gateway WebSocket URLs (`ws://host:port/ws`), tried round-robin. At least one. */
  urls: string[];
  /** A JWT, or a function returning a fresh one (called again when the server refuses it). */
  token: TokenSource;
  /** Device label sent on connect (≤ 32 chars). */
  device?: string;
  /** The `WebSocket` class; defaults to `globalThis.WebSocket` (pass `ws`'s class on Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Delays between connection attempts (default `DEFAULT_BACKOFF`: 0.5 s doubling up to 30 s). */
  backoff?: Partial<BackoffOptions>;
  /**
   * Delays between resends of a message the server answered with a retryable error, while the
   * socket stays up (default `DEFAULT_RESEND_BACKOFF`: 0.2 s doubling up to 2 s). Never shorter
   * than the error's `details.retryAfterMs`.
   */
  resendBackoff?: Partial<BackoffOptions>;
  requestTimeoutMs?: number;
  /**
   * Ping the gateway after this long without a frame from it (and behind a request unanswered
   * for a second); 0 turns pings and the liveness check off. Default 5000.
   */
  pingIntervalMs?: number;
  /**
   * A ping answered by no frame within this long means the gateway is gone (frozen, or the
   * network dropped silently): the client closes the socket (4000) and connects to the next URL
   * at once. Default 4000.
   */
  pingTimeoutMs?: number;
  /**
   * With several URLs: after this many sends in a row answered `unavailable`, the first at least
   * `failoverAfterUnavailableMs` ago, the client leaves the gateway as if it had closed with 4503
   * and connects to the next URL at once. 0 never does. Default 3.
   */
  failoverAfterUnavailable?: number;
  /** See `failoverAfterUnavailable`. Default 3000. */
  failoverAfterUnavailableMs?: number;
  /** Persists the resume position, the newest seen id and the outbox. Defaults to memory (lost on restart). */
  storage?: ClientStorage;
  /**
   * After each (re)connect's replay, read `listConversations` and emit `conversations` (default
   * true): what conversation events and receipts the client missed is only there.
   */
  refreshConversations?: boolean;
  /** How many delivered message ids to remember for deduplication. */
  dedupCapacity?: number;
  /** Source of randomness for backoff jitter, in [0, 1). For tests. */
  random?: () => number;
  /** The `fetch` attachment uploads and downloads use; defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** What `ChatClient.send` takes besides the body. */
export interface SendOptions {
  /** Ids from `uploadAttachment` (to this conversation): the message references those files. */
  attachments?: string[];
  /** The id of a message of the same conversation this one replies to (docs/protocol.md, `send`). */
  replyTo?: string;
}
