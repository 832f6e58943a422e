/**
 * Storage contract: messages, conversations, membership, read markers, dedup records and the
 * per-recipient offline queue. Two implementations: `CassandraStorage` (regional, real) and
 * `EmbeddedStorage` (LMDB on local disk, for single-node `npm start`). Both pass the same
 * contract suite in `test/storage.contract.ts`.
 *
 * Message ids are 64-bit snowflakes (see `src/util/snowflake.ts`) carried as `bigint`.
 */
import type { AttachmentRef, AttachmentStore } from './attachments.ts';
import type { HomeMoveStore } from './home-moves.ts';
import type { ModerationStore } from './moderation.ts';
import type { MuteStore } from './mutes.ts';
import type { RetentionStore } from './retention.ts';
import type { RevocationStore } from './revocations.ts';

export type ConversationKind = 'direct' | 'group';

export interface Conversation {
  id: string;
  kind: ConversationKind;
  /** Group title; null for direct conversations. */
  title: string | null;
  createdBy: string;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
}

export interface StoredMessage {
  conversationId: string;
  messageId: bigint;
  senderId: string;
  /** The sender's idempotency key, if it supplied one. */
  clientMsgId: string | null;
  body: string;
  /** Milliseconds since the Unix epoch (equal to the snowflake's timestamp). */
  createdAt: number;
  /** Files the message references (uploaded before it was sent); absent when none (and on a tombstone). */
  attachments?: AttachmentRef[];
  /**
   * Set on a *change record*: an edit or delete of another message of the conversation
   * (`targetId`), kept in the conversation's stream under its own id so it travels like a
   * message (dedup, visibility, offline queue, replay by position, replication). Its `body` is
   * always empty: the effect lives on the target's row (`MessageState`), and a replay resolves the
   * record to the target's state when it reads it. Absent or null: an ordinary message.
   */
  change?: MessageChange | null;
  /** The message's change state; absent or null on a message never edited or deleted. */
  state?: MessageState | null;
  /** Reactions on the message; absent or null when it never had any. */
  reactions?: MessageReactions | null;
  /**
   * The message this one replies to (same conversation). Only the id is stored: the quoted
   * preview is read from the parent when the message is shown (`src/gateway/refs.ts`), so a
   * deleted parent's body is never copied anywhere. Absent or null: not a reply.
   */
  replyTo?: bigint | null;
  /**
   * The root of the thread this reply belongs to: the parent, or the parent's own root when the
   * parent is itself a reply (threads are one level deep). Set exactly when `replyTo` is.
   */
  threadRoot?: bigint | null;
  /**
   * On a thread root: its replies as stored in this region (computed from the thread index, so
   * applying a reply twice counts it once). Absent or null: no replies.
   */
  thread?: ThreadSummary | null;
}

/** A root's replies: how many, and the newest one (its time is the id's snowflake time). */
export interface ThreadSummary {
  replyCount: number;
  lastReplyId: bigint;
}

export type ChangeKind = 'edit' | 'delete' | 'react' | 'unreact';

export interface MessageChange {
  kind: ChangeKind;
  targetId: bigint;
  /** `react` / `unreact`: the reaction. */
  emoji?: string;
}

/**
 * Who reacted with what. Each (emoji, user) is its own last-writer-wins register on the change
 * id (`react` sets it, `unreact` clears it), so reactions made concurrently in several regions
 * merge without losing one; `revision` is the largest reaction change applied (clients keep the
 * reactions with the larger revision).
 */
export interface MessageReactions {
  revision: bigint;
  /** Sorted by emoji; users sorted; only emoji someone currently reacts with. */
  entries: Array<{ emoji: string; users: string[] }>;
}

/** One reaction added or removed, by change `revision` (the change record's id). */
export interface ReactionApply {
  conversationId: string;
  targetId: bigint;
  emoji: string;
  userId: string;
  on: boolean;
  revision: bigint;
  /** The change record, for the replicating store to publish (stores ignore it). */
  record?: StoredMessage;
}

/**
 * What edits and deletes made of a message (its row holds it, with `body` the current text).
 * Merging two states is order-insensitive and idempotent (`mergeState` in storage/common.ts):
 * a delete wins over any edit, otherwise the larger `revision` (the change record's snowflake id,
 * unique per region and worker) wins — so regions converge whatever order changes arrive in.
 */
export interface MessageState {
  /** Id of the last change applied: clients keep the state with the newest revision. */
  revision: bigint;
  deleted: boolean;
  /** When the winning edit was made (ms); null if never edited. */
  editedAt: number | null;
  /** Edits made, as counted by the region that made the winning edit. */
  editCount: number;
}

/**
 * A change to apply to a target message's row: its new state, and for an edit the new body
 * (a delete empties the body).
 */
export interface ChangeApply {
  conversationId: string;
  targetId: bigint;
  state: MessageState;
  body: string;
  /**
   * The change record this applies, when there is one: stores ignore it; the replicating store
   * (`src/replication/outbox.ts`) publishes it with the target's resulting state.
   */
  record?: StoredMessage;
}

export interface ConversationSummary {
  conversation: Conversation;
  lastMessage: StoredMessage | null;
  /** Messages newer than the user's read marker not sent by the user, capped at `UNREAD_CAP`. */
  unreadCount: number;
  lastReadId: bigint | null;
}

export interface AppendOptions {
  /**
   * The client says no earlier attempt of this clientMsgId was ever sent (`attempt: 1` on the
   * wire, docs/protocol.md). A store may then skip looking for an earlier stored copy; attempts
   * in flight at the same time are still told apart. A client that says so wrongly can only
   * duplicate its own message.
   */
  firstAttempt?: boolean;
}

export interface AppendResult {
  message: StoredMessage;
  /** True when (senderId, clientMsgId) had already been stored: `message` is the original. */
  duplicate: boolean;
}

export interface HistoryQuery {
  /** Only messages with id < before; result newest-first. */
  before?: bigint;
  /** Only messages with id > after; result oldest-first. Mutually exclusive with `before`. */
  after?: bigint;
  /** Capped by the implementation at `MAX_HISTORY_LIMIT`. */
  limit: number;
  /**
   * Include change records (edits and deletes, `StoredMessage.change`). Default false: history
   * pages hold messages only and stay full pages (change records are skipped, reading on). A
   * replay by id sets it, since changes travel in the stream.
   */
  includeChanges?: boolean;
}

/** Unread counts above this are reported as this value (clients show "99+"-style badges). */
export const UNREAD_CAP = 1000;
/**
 * Largest page a history query returns, whatever the caller asks for: a bound on one read. It
 * stays above the protocol's largest page (`limits.maxHistoryLimit`, at most this minus one),
 * because the gateway reads one row more than the client asked for to tell it `hasMore`.
 */
export const MAX_HISTORY_LIMIT = 500;

/**
 * A message is *late* in a region when it becomes visible there more than this many ms after its
 * id's time (a replica applied after an outage, a resend that fans out what a first attempt
 * stored). Resume positions are visibility times: a replay finds messages that were not late by
 * id (their id time is within LATE_MS of their visibility), and late ones in the late index
 * (`recordLate` / `listLate`). A constant, not config: every gateway of every region must agree.
 */
export const LATE_MS = 10_000;

/** A message recorded in the late index, with the time it became visible in this region. */
export interface LateMessage {
  message: StoredMessage;
  /** Milliseconds since the Unix epoch, on the clock of the gateway that made it visible. */
  visibleAt: number;
}

/** A search of a user's messages (`Storage.searchMessages`). */
export interface SearchQuery {
  /**
   * The conversations to search: the caller has checked that the user belongs to each (the store
   * does not know who asks). Messages of any other conversation never come back.
   */
  conversationIds: readonly string[];
  /**
   * The query's terms, from `searchTerms` (src/protocol/search.ts): a message matches when every
   * one is a term of its body. Empty: nothing matches.
   */
  terms: readonly string[];
  /** Only messages with id < before (the previous page's `nextBefore`). */
  before?: bigint;
  /** Capped by the implementation at `MAX_SEARCH_LIMIT`. */
  limit: number;
}

export interface SearchPage {
  /** Matches, newest first, at most `limit`. */
  messages: StoredMessage[];
  /**
   * Where the next page starts (its `before`), or null when nothing older matches. It may be set
   * while `messages` has fewer than `limit` entries: a store that bounds the work of one call
   * (the Cassandra store reads at most a budget of partitions) stops there and says where to go on.
   */
  nextBefore: bigint | null;
}

/** Largest page a search returns, whatever the caller asks for (above the protocol's 50). */
export const MAX_SEARCH_LIMIT = 100;

export interface Storage {
  /** Uploaded files (`attachments.ts`): opened by `init()` and closed by `close()` with the rest. */
  readonly attachments: AttachmentStore;
  /** Token revocations (`revocations.ts`), opened and closed with the rest. */
  readonly revocations: RevocationStore;
  /** Group roles, bans and user blocks (`moderation.ts`): opened and closed with the rest. */
  readonly moderation: ModerationStore;
  /** Muted conversations per user (`mutes.ts`), opened and closed with the rest. */
  readonly mutes: MuteStore;
  /** Home-region move records and replies (`home-moves.ts`), opened and closed with the rest. */
  readonly homeMoves: HomeMoveStore;
  /** Retention periods, expiry and erasure (`retention.ts`), on the same store. */
  readonly retention: RetentionStore;
  /** Create or migrate the schema idempotently. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the backing store answers a trivial query. */
  ping(): Promise<void>;

  /**
   * Create a conversation with its initial members. Idempotent on `id`: if it exists, the
   * existing conversation is returned and members are not changed.
   */
  createConversation(conv: Conversation, members: readonly string[]): Promise<Conversation>;
  getConversation(id: string): Promise<Conversation | null>;
  addMembers(conversationId: string, userIds: readonly string[]): Promise<void>;
  removeMembers(conversationId: string, userIds: readonly string[]): Promise<void>;
  listMembers(conversationId: string): Promise<string[]>;
  isMember(conversationId: string, userId: string): Promise<boolean>;
  /** Ids of the conversations the user belongs to. */
  listUserConversationIds(userId: string): Promise<string[]>;
  /** The user's conversations with last message and unread count, most recent activity first. */
  listUserConversations(userId: string): Promise<ConversationSummary[]>;

  /**
   * Durably store a message. If `clientMsgId` is set and (senderId, clientMsgId) was stored
   * before, nothing new is written and the original is returned with `duplicate: true`.
   */
  appendMessage(message: StoredMessage, opts?: AppendOptions): Promise<AppendResult>;
  /**
   * Stores a message another region already stored and acked, under its original id: an
   * idempotent upsert (applying it twice changes nothing). Its (senderId, clientMsgId) record is
   * written if absent, so a resend to this region after a failover is recognised.
   */
  putReplica(message: StoredMessage): Promise<void>;
  getMessage(conversationId: string, messageId: bigint): Promise<StoredMessage | null>;
  getHistory(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]>;
  /**
   * Messages of the given conversations whose body has every query term, newest first. A body
   * changed in place (an edit; a delete leaves an empty body) is searched as it is now: the old
   * words no longer find it. See `SearchQuery` and `SearchPage`.
   */
  searchMessages(query: SearchQuery): Promise<SearchPage>;

  /**
   * Applies an edit or delete to the target message's row by merging `change.state` into the
   * row's (`mergeState`: a delete wins, else the larger revision; applying twice or out of order
   * ends the same). A delete empties the body on the row and in the late index's copies of the
   * message. Resolves with the target's resulting state, or null when the target is not stored
   * here (yet: a replicated change may arrive before its target).
   */
  applyChange(change: ChangeApply): Promise<StoredMessage | null>;
  /**
   * Adds or removes one reaction on the target message: the (emoji, user) register takes the
   * value of the larger revision, whatever the order (idempotent). Resolves with the target's
   * resulting state, or null when the target is not stored here (yet).
   */
  applyReaction(reaction: ReactionApply): Promise<StoredMessage | null>;
  /**
   * Empties the body of the offline-queue copies of a deleted message held for these users (the
   * delete's state is written on them too). Users with no copy queued are left alone.
   */
  scrubOffline(userIds: readonly string[], conversationId: string, messageId: bigint): Promise<void>;

  /**
   * Records `reply` (a stored message with `threadRoot` set) in its root's thread index and
   * resolves with the root as it is now, its `thread` summary counting the reply. Idempotent: a
   * reply recorded twice counts once, in any order with other replies, so every region converges
   * on the same summary. Null when the root is not stored here (yet: a replicated reply may
   * arrive before its root; nothing is recorded then).
   */
  addThreadReply(reply: StoredMessage): Promise<StoredMessage | null>;
  /**
   * A page of a thread's replies, like `getHistory`: `before` newest first, `after` oldest
   * first, neither the newest page. Replies only (never the root itself).
   */
  getThread(conversationId: string, rootId: bigint, query: HistoryQuery): Promise<StoredMessage[]>;

  /** Move the user's read marker forward (never backward). */
  markRead(userId: string, conversationId: string, messageId: bigint): Promise<void>;
  getReadMarker(userId: string, conversationId: string): Promise<bigint | null>;

  /** Queue messages for a recipient with no open connection. Idempotent per (user, messageId). */
  enqueueOffline(userId: string, messages: readonly StoredMessage[]): Promise<void>;
  /** Oldest-first, at most `limit` entries, optionally only ids > `after`. */
  listOffline(userId: string, limit: number, after?: bigint): Promise<StoredMessage[]>;
  /** Remove acked entries. Unknown ids are ignored. */
  ackOffline(userId: string, messageIds: readonly bigint[]): Promise<void>;
  /** Number of entries queued for the user (for metrics and tests). */
  countOffline(userId: string): Promise<number>;

  /**
   * Records that `message` became visible in this region at `visibleAt` (ms), late: more than
   * LATE_MS after its id's time. Idempotent for the same (message, visibleAt); a message may be
   * recorded several times with different times. Written before the message is fanned out.
   *
   * Why: a resume position is a visibility time, and a replay reads messages by id from just
   * before it; a message whose id is much older than its visibility would fall below that read,
   * so it is found here instead. The store does not check lateness (the caller's clock decides);
   * entries never expire, because positions may be weeks old. `visibleAt` must be a whole number
   * of ms in 0..8.64e15, a `Date`'s range (a RangeError otherwise), read from a gateway's clock:
   * an implementation may look no further than a minute past its own clock when listing.
   */
  recordLate(message: StoredMessage, visibleAt: number): Promise<void>;
  /**
   * Late messages of a conversation recorded with visibleAt >= sinceVisibleAt, ascending by
   * (visibleAt, messageId), at most `limit` (capped like history pages, at MAX_HISTORY_LIMIT).
   * A message recorded at several times appears once per time: the caller merges by id.
   */
  listLate(conversationId: string, sinceVisibleAt: number, limit: number): Promise<LateMessage[]>;
}
