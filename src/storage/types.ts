/**
 * Storage contract: messages, conversations, membership, read markers, dedup records and the
 * per-recipient offline queue. Two implementations: `CassandraStorage` (regional, real) and
 * `EmbeddedStorage` (LMDB on local disk, for single-node `npm start`). Both pass the same
 * contract suite in `test/storage.contract.ts`.
 *
 * Message ids are 64-bit snowflakes (see `src/util/snowflake.ts`) carried as `bigint`.
 */

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
