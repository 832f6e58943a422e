/**
 * `CassandraStorage`: the `Storage` contract on Apache Cassandra (one keyspace per region),
 * following Discord's message schema: messages partitioned by (conversation, 10-day bucket) and
 * clustered by snowflake id, newest first. Every statement is prepared and runs at LOCAL_QUORUM
 * (lightweight transactions at LOCAL_SERIAL), so a resolved write is durable in the local
 * datacenter. Tables: see `cassandra-schema.ts`. Client-message dedup takes a lightweight
 * transaction per message unless a `DedupArbiter` (Redis) is given: see `appendMessage`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra, { type Client as CassandraClient, type types } from 'cassandra-driver';
import { EPOCH_MS, snowflakeTime } from '../util/snowflake.ts';
import { assertKeyspaceName, migrate, type ReplicationOptions } from './cassandra-schema.ts';
import {
  assertMessageId,
  clampLimit,
  mapLimit,
  normaliseHistoryQuery,
  sortByActivity,
  unique,
} from './common.ts';
import type { DedupArbiter } from './dedup-arbiter.ts';
import {
  type AppendResult,
  type Conversation,
  type ConversationKind,
  type ConversationSummary,
  type HistoryQuery,
  type Storage,
  type StoredMessage,
  UNREAD_CAP,
} from './types.ts';

const { Client, types: cql } = cassandra;
type Long = types.Long;
type Row = types.Row;

/** Width of a message partition: Discord's 10 days keeps even busy conversations' partitions small. */
export const BUCKET_MS = 10 * 24 * 3600 * 1000;
/** Buckets of one conversation read in parallel while walking history. */
const BUCKET_READ_AHEAD = 4;
/** Parallel per-conversation lookups in listUserConversations (a user can have hundreds). */
const SUMMARY_CONCURRENCY = 16;
/** Page size when counting unread messages or listing members. */
const SCAN_PAGE = 1000;
/** Clock skew tolerated between the gateway creating a conversation and one minting its ids. */
const CLOCK_SKEW_MARGIN_MS = 60_000;
/** Conversation creation times kept in memory per process. */
const CREATED_AT_CACHE_MAX = 100_000;
/** Deletes per `IN (…)` when acking the offline queue. */
const ACK_CHUNK = 100;
/**
 * Lifetime of a dedup arbiter claim. It only has to outlive the attempts in flight when it is
 * made (each of their requests times out after the driver's 12 s); later resends are recognised
 * from the Cassandra row. Redis holds one claim per message sent in the last TTL, so this is
 * also its memory: at 2,000 sends/s, 240k keys.
 */
export const DEDUP_CLAIM_TTL_MS = 2 * 60 * 1000;
/**
 * How long an attempt that lost the arbiter claim waits for the holder's message row before it
 * writes the message itself under the holder's id (the holder may have crashed).
 */
const CLAIM_HOLDER_GRACE_MS = 1000;

export type ConsistencyName = 'ONE' | 'LOCAL_ONE' | 'QUORUM' | 'LOCAL_QUORUM' | 'EACH_QUORUM' | 'ALL';

const CONSISTENCY: Record<ConsistencyName, number> = {
  ONE: cql.consistencies.one,
  LOCAL_ONE: cql.consistencies.localOne,
  QUORUM: cql.consistencies.quorum,
  LOCAL_QUORUM: cql.consistencies.localQuorum,
  EACH_QUORUM: cql.consistencies.eachQuorum,
  ALL: cql.consistencies.all,
};

export interface CassandraStorageOptions {
  contactPoints: string[];
  /** CQL native port. Default 9042. */
  port?: number;
  localDataCenter: string;
  keyspace: string;
  /** Used when the keyspace is created. Default NetworkTopologyStrategy, `replicationFactor` in the local DC. */
  replication?: ReplicationOptions;
  /** Shorthand for the default replication (what `regions.yaml` carries). Default 1. */
  replicationFactor?: number;
  /** Reads and writes. Default LOCAL_QUORUM: the sender is acked once a local quorum has the message. */
  consistency?: ConsistencyName;
  /** Creates/migrates the schema in init(). Default true; false when `scripts/migrate.ts` owns it. */
  migrate?: boolean;
  /** Per-request timeout in ms (driver default 12 s). */
  readTimeoutMs?: number;
  /**
   * Decides between concurrent attempts to store one client message, instead of a lightweight
   * transaction per message (see `appendMessage`). The store owns it: init() connects it and
   * close() closes it. Default none: dedup by lightweight transaction.
   */
  dedupArbiter?: DedupArbiter;
  log?: (msg: string) => void;
}

/** Cassandra partition of the message with this id. */
export function bucketOf(ms: number): number {
  return Math.floor(ms / BUCKET_MS);
}

export function bucketOfId(id: bigint): number {
  return bucketOf(snowflakeTime(id));
}

/**
 * First bucket that can hold a conversation's messages. Ids are minted after the conversation
 * is created, but possibly on another gateway whose clock is behind the creator's; the margin
 * covers that skew at the cost of one more (usually empty) bucket read now and then.
 */
function creationBucket(createdAt: number): number {
  return bucketOf(Math.max(createdAt - CLOCK_SKEW_MARGIN_MS, EPOCH_MS));
}

export function toLong(id: bigint): Long {
  assertMessageId(id);
  return cql.Long.fromString(id.toString());
}

export function fromLong(value: unknown): bigint {
  if (value instanceof cql.Long) return BigInt(value.toString());
  if (typeof value === 'bigint') return value;
  throw new TypeError(`expected a bigint column, got ${typeof value}`);
}

/**
 * Write timestamp (µs) that grows with the id: the id's millisecond plus its low 22 bits scaled
 * into the remaining 1000 µs. Cells written with it resolve to the largest id under Cassandra's
 * last-write-wins (equal timestamps fall back to the larger value, which is again the larger id),
 * so "only move forward" needs no read-before-write and no lightweight transaction.
 */
export function idTimestamp(id: bigint): Long {
  const micros = BigInt(snowflakeTime(id)) * 1000n + (((id & 0x3f_ffffn) * 1000n) >> 22n);
  return cql.Long.fromString(micros.toString());
}

function text(row: Row, column: string): string {
  const v: unknown = row.get(column);
  if (typeof v !== 'string') throw new TypeError(`column ${column}: expected text, got ${typeof v}`);
  return v;
}

function optionalText(row: Row, column: string): string | null {
  const v: unknown = row.get(column);
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new TypeError(`column ${column}: expected text, got ${typeof v}`);
  return v;
}

function millis(row: Row, column: string): number {
  const v: unknown = row.get(column);
  if (!(v instanceof Date)) throw new TypeError(`column ${column}: expected timestamp, got ${typeof v}`);
  return v.getTime();
}

function rowToMessage(row: Row): StoredMessage {
  return {
    conversationId: text(row, 'conversation_id'),
    messageId: fromLong(row.get('message_id')),
    senderId: text(row, 'sender_id'),
    clientMsgId: optionalText(row, 'client_msg_id'),
    body: text(row, 'body'),
    createdAt: millis(row, 'created_at'),
  };
}

function rowToConversation(row: Row): Conversation {
  return {
    id: text(row, 'conversation_id'),
    kind: text(row, 'kind') as ConversationKind,
    title: optionalText(row, 'title'),
    createdBy: text(row, 'created_by'),
    createdAt: millis(row, 'created_at'),
  };
}

const MESSAGE_COLUMNS = 'conversation_id, message_id, sender_id, client_msg_id, body, created_at';

/** Arbiter key of a client message: JSON, so no (sender, clientMsgId) pair can spell another's. */
export function dedupKey(senderId: string, clientMsgId: string): string {
  return JSON.stringify([senderId, clientMsgId]);
}

/** Arbiter value of a claim: `<conversationId> <messageId>` (the id is digits, so split at the last space). */
export function claimValue(conversationId: string, messageId: bigint): string {
  return `${conversationId} ${messageId}`;
}

interface Reservation {
  conversationId: string;
  messageId: bigint;
}

function parseClaimValue(value: string): Reservation {
  const space = value.lastIndexOf(' ');
  const digits = value.slice(space + 1);
  if (space < 0 || !/^[0-9]{1,20}$/.test(digits)) {
    throw new Error(`dedup arbiter: malformed claim ${JSON.stringify(value.slice(0, 200))}`);
  }
  const messageId = BigInt(digits);
  assertMessageId(messageId);
  return { conversationId: value.slice(0, space), messageId };
}

export class CassandraStorage implements Storage {
  private readonly client: CassandraClient;
  private readonly ks: string;
  private readonly replication: ReplicationOptions;
  /** Conversation creation times never change: cache them to bound history walks without a read. */
  private readonly createdAt = new Map<string, number>();
  private readonly arbiter: DedupArbiter | undefined;

  constructor(private readonly options: CassandraStorageOptions) {
    this.arbiter = options.dedupArbiter;
    // Interpolated into every statement (identifiers cannot be bound), so validate it up front.
    assertKeyspaceName(options.keyspace);
    this.ks = options.keyspace;
    this.replication = options.replication ?? {
      class: 'NetworkTopologyStrategy',
      [options.localDataCenter]: options.replicationFactor ?? 1,
    };
    this.client = new Client({
      contactPoints: options.contactPoints,
      localDataCenter: options.localDataCenter,
      protocolOptions: { port: options.port ?? 9042 },
      queryOptions: {
        consistency: CONSISTENCY[options.consistency ?? 'LOCAL_QUORUM'],
        serialConsistency: cql.consistencies.localSerial,
        prepare: true,
      },
      ...(options.readTimeoutMs !== undefined
        ? { socketOptions: { readTimeout: options.readTimeoutMs } }
        : {}),
    });
  }

  async init(): Promise<void> {
    await Promise.all([this.client.connect(), this.arbiter?.init?.()]);
    if (this.options.migrate !== false) {
      await migrate(this.client, this.ks, this.replication, this.options.log);
    }
  }

  async close(): Promise<void> {
    try {
      await this.client.shutdown();
    } finally {
      await this.arbiter?.close();
    }
  }

  async ping(): Promise<void> {
    await this.client.execute('SELECT release_version FROM system.local');
  }

  // ---- conversations and membership -------------------------------------------------------

  async createConversation(conv: Conversation, members: readonly string[]): Promise<Conversation> {
    const initial = unique(members);
    const rs = await this.client.execute(
      `INSERT INTO ${this.ks}.conversations
         (conversation_id, kind, title, created_by, created_at, initial_members, members_ready)
       VALUES (?, ?, ?, ?, ?, ?, false) IF NOT EXISTS`,
      [conv.id, conv.kind, conv.title, conv.createdBy, new Date(conv.createdAt), initial],
    );
    if (rs.wasApplied()) {
      await this.finishCreate(conv.id, initial);
      this.rememberCreatedAt(conv.id, conv.createdAt);
      return { ...conv };
    }
    const row = rs.first();
    const existing = rowToConversation(row);
    // A creator that died between the conversation row and its member rows left
    // members_ready = false: finish its job with the members it recorded.
    if (row.get('members_ready') !== true) {
      const recorded: unknown = row.get('initial_members');
      await this.finishCreate(conv.id, Array.isArray(recorded) ? (recorded as string[]) : []);
    }
    return existing;
  }

  async getConversation(id: string): Promise<Conversation | null> {
    const rs = await this.client.execute(
      `SELECT conversation_id, kind, title, created_by, created_at FROM ${this.ks}.conversations
       WHERE conversation_id = ?`,
      [id],
    );
    const row = rs.first();
    if (!row || row.get('kind') === null) return null;
    const conversation = rowToConversation(row);
    this.rememberCreatedAt(id, conversation.createdAt);
    return conversation;
  }

  async addMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    const users = unique(userIds);
    if (users.length === 0) return;
    // Logged batch: the two membership tables must not disagree if we crash mid-way.
    const queries = users.flatMap((userId) => [
      {
        query: `INSERT INTO ${this.ks}.members_by_conversation (conversation_id, user_id) VALUES (?, ?)`,
        params: [conversationId, userId],
      },
      {
        query: `INSERT INTO ${this.ks}.conversations_by_user (user_id, conversation_id) VALUES (?, ?)`,
        params: [userId, conversationId],
      },
    ]);
    await this.client.batch(queries, { prepare: true, logged: true });
  }

  async removeMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    const users = unique(userIds);
    if (users.length === 0) return;
    const queries = users.flatMap((userId) => [
      {
        query: `DELETE FROM ${this.ks}.members_by_conversation WHERE conversation_id = ? AND user_id = ?`,
        params: [conversationId, userId],
      },
      {
        query: `DELETE FROM ${this.ks}.conversations_by_user WHERE user_id = ? AND conversation_id = ?`,
        params: [userId, conversationId],
      },
    ]);
    await this.client.batch(queries, { prepare: true, logged: true });
  }

  async listMembers(conversationId: string): Promise<string[]> {
    const rows = await this.selectAll(
      `SELECT user_id FROM ${this.ks}.members_by_conversation WHERE conversation_id = ?`,
      [conversationId],
    );
    return rows.map((row) => text(row, 'user_id'));
  }

  async isMember(conversationId: string, userId: string): Promise<boolean> {
    const rs = await this.client.execute(
      `SELECT user_id FROM ${this.ks}.members_by_conversation WHERE conversation_id = ? AND user_id = ?`,
      [conversationId, userId],
    );
    return rs.rowLength > 0;
  }

  async listUserConversationIds(userId: string): Promise<string[]> {
    const rows = await this.selectAll(
      `SELECT conversation_id FROM ${this.ks}.conversations_by_user WHERE user_id = ?`,
      [userId],
    );
    return rows.map((row) => text(row, 'conversation_id'));
  }

  async listUserConversations(userId: string): Promise<ConversationSummary[]> {
    const [ids, markerRows] = await Promise.all([
      this.listUserConversationIds(userId),
      this.selectAll(`SELECT conversation_id, last_read_id FROM ${this.ks}.read_markers WHERE user_id = ?`, [
        userId,
      ]),
    ]);
    const markers = new Map<string, bigint>();
    for (const row of markerRows)
      markers.set(text(row, 'conversation_id'), fromLong(row.get('last_read_id')));

    const summaries = await mapLimit(ids, SUMMARY_CONCURRENCY, async (conversationId) => {
      const [conversation, lastMessage] = await Promise.all([
        this.getConversation(conversationId),
        this.lastMessage(conversationId),
      ]);
      if (!conversation) return null;
      const lastReadId = markers.get(conversationId) ?? null;
      const unreadCount = await this.countUnread(userId, conversation, lastReadId, lastMessage);
      return { conversation, lastMessage, unreadCount, lastReadId } satisfies ConversationSummary;
    });
    return sortByActivity(summaries.filter((s) => s !== null));
  }

  // ---- messages ---------------------------------------------------------------------------

  async appendMessage(message: StoredMessage): Promise<AppendResult> {
    assertMessageId(message.messageId);
    if (message.clientMsgId === null) {
      await this.writeMessage(message);
      return { message: { ...message }, duplicate: false };
    }
    if (this.arbiter) return this.appendArbitrated(message, message.clientMsgId, this.arbiter);
    // Reserve (sender, clientMsgId) first with a Paxos round: of any number of concurrent
    // resends exactly one reservation is applied, and the others read back its id.
    const rs = await this.client.execute(
      `INSERT INTO ${this.ks}.message_dedup (sender_id, client_msg_id, conversation_id, message_id)
       VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      [message.senderId, message.clientMsgId, message.conversationId, toLong(message.messageId)],
    );
    if (rs.wasApplied()) {
      await this.writeMessage(message);
      return { message: { ...message }, duplicate: false };
    }
    const reserved = rs.first();
    return this.settleReserved(message, {
      conversationId: text(reserved, 'conversation_id'),
      messageId: fromLong(reserved.get('message_id')),
    });
  }

  /**
   * `appendMessage` with a dedup arbiter instead of a Paxos round. The Cassandra dedup row
   * recognises resends of a message whose attempt got as far as writing it; the arbiter decides
   * between attempts in flight at the same time (it only has to remember a claim that long).
   */
  private async appendArbitrated(
    message: StoredMessage,
    clientMsgId: string,
    arbiter: DedupArbiter,
  ): Promise<AppendResult> {
    const other = await this.reserveArbitrated(message, clientMsgId, arbiter);
    if (other) {
      // A claim held by another attempt: it is most likely still writing, so give it a moment.
      return this.settleReserved(message, other.reservation, other.inFlight ? CLAIM_HOLDER_GRACE_MS : 0);
    }
    // Ours. The dedup row goes first: a crash before the message row leaves a reservation without
    // a message, which the next resend heals; the other order could leave a message that a resend
    // arriving after the claim expired would not recognise, and store again.
    await this.writeDedup(message, clientMsgId);
    await this.writeMessage(message);
    return { message: { ...message }, duplicate: false };
  }

  /**
   * Reserves (sender, clientMsgId) for this message without Paxos: the Cassandra dedup row, if
   * there is one, else the arbiter's claim. Returns null when the reservation is ours (a retried
   * claim that gets back its own value counts as ours), else the other reservation and whether it
   * is only a claim, whose attempt may still be writing.
   */
  private async reserveArbitrated(
    message: StoredMessage,
    clientMsgId: string,
    arbiter: DedupArbiter,
  ): Promise<{ reservation: Reservation; inFlight: boolean } | null> {
    const reserved = await this.readDedup(message.senderId, clientMsgId);
    if (reserved) return { reservation: reserved, inFlight: false };
    const mine = claimValue(message.conversationId, message.messageId);
    const held = await arbiter.claim(dedupKey(message.senderId, clientMsgId), mine, DEDUP_CLAIM_TTL_MS);
    if (held === null || held === mine) return null;
    return { reservation: parseClaimValue(held), inFlight: true };
  }

  /**
   * (sender, clientMsgId) is reserved for `reserved`: answer with that message if it is stored,
   * else store this attempt's message under the reserved id. With `waitMs`, the reservation's
   * holder may still be writing, so look for its message that long before writing it here.
   */
  private async settleReserved(
    message: StoredMessage,
    reserved: Reservation,
    waitMs = 0,
  ): Promise<AppendResult> {
    const { conversationId, messageId } = reserved;
    const original = await this.awaitMessage(conversationId, messageId, waitMs);
    if (original) {
      // The first attempt may have failed after the message but before the newest-id pointer;
      // its client is resending because it was not acked, so finish that write too.
      await this.writeLastMessageId(original);
      return { message: original, duplicate: true };
    }
    // The reservation exists but the message does not: its writer crashed (or is still writing).
    // Write it now under the reserved id, so whichever attempt the client saw acked, the message
    // is stored exactly once. Not a duplicate: the original was never stored, so never delivered.
    const healed: StoredMessage = {
      ...message,
      conversationId,
      messageId,
      createdAt: snowflakeTime(messageId),
    };
    // With an arbiter the reservation may exist only there (its holder died before the dedup row,
    // or that write failed): (re)write the row first, as a first attempt does.
    if (this.arbiter && message.clientMsgId !== null) await this.writeDedup(healed, message.clientMsgId);
    await this.writeMessage(healed);
    return { message: healed, duplicate: false };
  }

  async putReplica(message: StoredMessage): Promise<void> {
    assertMessageId(message.messageId);
    if (message.clientMsgId !== null && this.arbiter) {
      // As below, without Paxos: the row is written only if this replica holds the reservation.
      if (!(await this.reserveArbitrated(message, message.clientMsgId, this.arbiter))) {
        await this.writeDedup(message, message.clientMsgId);
      }
    } else if (message.clientMsgId !== null) {
      // Written only if absent: a local reservation for another id (a resend that reached this
      // region before the replica did) is left alone; both messages then exist, as they did.
      await this.client.execute(
        `INSERT INTO ${this.ks}.message_dedup (sender_id, client_msg_id, conversation_id, message_id)
         VALUES (?, ?, ?, ?) IF NOT EXISTS`,
        [message.senderId, message.clientMsgId, message.conversationId, toLong(message.messageId)],
      );
    }
    await this.writeMessage(message);
  }

  async getMessage(conversationId: string, messageId: bigint): Promise<StoredMessage | null> {
    const rs = await this.client.execute(
      `SELECT ${MESSAGE_COLUMNS} FROM ${this.ks}.messages
       WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
      [conversationId, bucketOfId(messageId), toLong(messageId)],
    );
    const row = rs.first();
    return row ? rowToMessage(row) : null;
  }

  async getHistory(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    const { before, after, limit } = normaliseHistoryQuery(query);
    if (limit === 0 || before === 0n) return [];
    const newest = await this.lastMessageId(conversationId);
    if (newest === null) return [];

    if (after !== undefined) {
      if (newest <= after) return [];
      const first = bucketOfId(after + 1n);
      const last = bucketOfId(newest);
      return this.walkBuckets(first, last, +1, limit, (bucket, n) =>
        this.client.execute(
          `SELECT ${MESSAGE_COLUMNS} FROM ${this.ks}.messages
           WHERE conversation_id = ? AND bucket = ? AND message_id > ?
           ORDER BY message_id ASC LIMIT ?`,
          [conversationId, bucket, toLong(after), n],
        ),
      );
    }

    const upper = before === undefined ? newest : before - 1n < newest ? before - 1n : newest;
    const first = bucketOfId(upper);
    const last = await this.firstBucket(conversationId);
    return this.walkBuckets(first, Math.min(last, first), -1, limit, (bucket, n) =>
      this.client.execute(
        `SELECT ${MESSAGE_COLUMNS} FROM ${this.ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND message_id <= ? LIMIT ?`,
        [conversationId, bucket, toLong(upper), n],
      ),
    );
  }

  // ---- read markers -----------------------------------------------------------------------

  async markRead(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    // Timestamp from the id (see idTimestamp): a smaller id can never overwrite a larger one,
    // however concurrent markRead calls interleave. Never delete these cells with a wall-clock
    // timestamp: the tombstone would shadow every later marker older than the deletion.
    await this.client.execute(
      `UPDATE ${this.ks}.read_markers SET last_read_id = ? WHERE user_id = ? AND conversation_id = ?`,
      [toLong(messageId), userId, conversationId],
      { timestamp: idTimestamp(messageId) },
    );
  }

  async getReadMarker(userId: string, conversationId: string): Promise<bigint | null> {
    const rs = await this.client.execute(
      `SELECT last_read_id FROM ${this.ks}.read_markers WHERE user_id = ? AND conversation_id = ?`,
      [userId, conversationId],
    );
    const row = rs.first();
    return row ? fromLong(row.get('last_read_id')) : null;
  }

  // ---- offline queue ----------------------------------------------------------------------

  async enqueueOffline(userId: string, messages: readonly StoredMessage[]): Promise<void> {
    for (const m of messages) assertMessageId(m.messageId);
    // Separate single-row inserts rather than a batch: bodies can be large, and batches over
    // 50 KB are rejected. Re-inserting the same (user, id) overwrites it: idempotent.
    await mapLimit(messages, 32, (m) =>
      this.client.execute(
        `INSERT INTO ${this.ks}.offline_queue
           (user_id, message_id, conversation_id, sender_id, client_msg_id, body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [
          userId,
          toLong(m.messageId),
          m.conversationId,
          m.senderId,
          m.clientMsgId,
          m.body,
          new Date(m.createdAt),
        ],
      ),
    );
  }

  async listOffline(userId: string, limit: number, after?: bigint): Promise<StoredMessage[]> {
    const n = clampLimit(limit, 0x7fff_ffff);
    if (n === 0) return [];
    const rows =
      after === undefined
        ? await this.selectAll(
            `SELECT ${MESSAGE_COLUMNS} FROM ${this.ks}.offline_queue WHERE user_id = ? LIMIT ?`,
            [userId, n],
          )
        : await this.selectAll(
            `SELECT ${MESSAGE_COLUMNS} FROM ${this.ks}.offline_queue WHERE user_id = ? AND message_id > ? LIMIT ?`,
            [userId, toLong(after), n],
          );
    return rows.map(rowToMessage);
  }

  async ackOffline(userId: string, messageIds: readonly bigint[]): Promise<void> {
    const ids = unique(messageIds);
    const chunks: bigint[][] = [];
    for (let i = 0; i < ids.length; i += ACK_CHUNK) chunks.push(ids.slice(i, i + ACK_CHUNK));
    await Promise.all(
      chunks.map((chunk) =>
        this.client.execute(`DELETE FROM ${this.ks}.offline_queue WHERE user_id = ? AND message_id IN ?`, [
          userId,
          chunk.map(toLong),
        ]),
      ),
    );
  }

  async countOffline(userId: string): Promise<number> {
    const rs = await this.client.execute(
      `SELECT COUNT(*) AS n FROM ${this.ks}.offline_queue WHERE user_id = ?`,
      [userId],
    );
    return Number(fromLong(rs.first()?.get('n')));
  }

  // ---- internals --------------------------------------------------------------------------

  private async finishCreate(conversationId: string, members: string[]): Promise<void> {
    await this.addMembers(conversationId, members);
    // Conditional so it is ordered by Paxos after the IF NOT EXISTS insert: a plain write with a
    // client timestamp could lose to the insert's ballot timestamp under clock skew.
    await this.client.execute(
      `UPDATE ${this.ks}.conversations SET members_ready = true WHERE conversation_id = ? IF EXISTS`,
      [conversationId],
    );
  }

  private rememberCreatedAt(conversationId: string, createdAt: number): void {
    // Crude bound on memory: a miss only costs one conversation read.
    if (this.createdAt.size >= CREATED_AT_CACHE_MAX) this.createdAt.clear();
    this.createdAt.set(conversationId, createdAt);
  }

  /** The dedup row of (sender, clientMsgId), read at the client's consistency; null if none. */
  private async readDedup(senderId: string, clientMsgId: string): Promise<Reservation | null> {
    const rs = await this.client.execute(
      `SELECT conversation_id, message_id FROM ${this.ks}.message_dedup
       WHERE sender_id = ? AND client_msg_id = ?`,
      [senderId, clientMsgId],
    );
    const row = rs.first();
    if (!row) return null;
    return { conversationId: text(row, 'conversation_id'), messageId: fromLong(row.get('message_id')) };
  }

  /** Plain write of the dedup row (the table's default TTL, DEDUP_TTL_SECONDS, applies). */
  private async writeDedup(m: StoredMessage, clientMsgId: string): Promise<void> {
    await this.client.execute(
      `INSERT INTO ${this.ks}.message_dedup (sender_id, client_msg_id, conversation_id, message_id)
       VALUES (?, ?, ?, ?)`,
      [m.senderId, clientMsgId, m.conversationId, toLong(m.messageId)],
    );
  }

  /** The message, looked for again with growing pauses for up to `waitMs` while it is missing. */
  private async awaitMessage(
    conversationId: string,
    messageId: bigint,
    waitMs: number,
  ): Promise<StoredMessage | null> {
    const deadline = performance.now() + waitMs;
    let pause = 5;
    for (;;) {
      const found = await this.getMessage(conversationId, messageId);
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, 100);
    }
  }

  /** Stores the message and advances the conversation's newest-id pointer; both before the ack. */
  private async writeMessage(m: StoredMessage): Promise<void> {
    await Promise.all([
      this.client.execute(
        `INSERT INTO ${this.ks}.messages
           (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [
          m.conversationId,
          bucketOfId(m.messageId),
          toLong(m.messageId),
          m.senderId,
          m.clientMsgId,
          m.body,
          new Date(m.createdAt),
        ],
      ),
      this.writeLastMessageId(m),
    ]);
  }

  private async writeLastMessageId(m: StoredMessage): Promise<void> {
    await this.client.execute(
      `UPDATE ${this.ks}.conversation_last_message SET message_id = ? WHERE conversation_id = ?`,
      [toLong(m.messageId), m.conversationId],
      { timestamp: idTimestamp(m.messageId) },
    );
  }

  private async lastMessageId(conversationId: string): Promise<bigint | null> {
    const rs = await this.client.execute(
      `SELECT message_id FROM ${this.ks}.conversation_last_message WHERE conversation_id = ?`,
      [conversationId],
    );
    const row = rs.first();
    return row ? fromLong(row.get('message_id')) : null;
  }

  private async lastMessage(conversationId: string): Promise<StoredMessage | null> {
    const id = await this.lastMessageId(conversationId);
    if (id === null) return null;
    const message = await this.getMessage(conversationId, id);
    if (message) return message;
    // The pointer is written alongside the message; while that write is in flight fall back.
    const [newest] = await this.getHistory(conversationId, { before: id, limit: 1 });
    return newest ?? null;
  }

  /** Oldest bucket that can hold the conversation's messages (ids are minted after creation). */
  private async firstBucket(conversationId: string): Promise<number> {
    let created = this.createdAt.get(conversationId);
    if (created === undefined) {
      created = (await this.getConversation(conversationId))?.createdAt ?? EPOCH_MS;
    }
    return creationBucket(created);
  }

  /**
   * Reads buckets `from` → `to` (step ±1) until `limit` rows are found, querying up to
   * BUCKET_READ_AHEAD buckets at once so a quiet conversation does not cost one round trip per
   * empty 10-day window.
   */
  private async walkBuckets(
    from: number,
    to: number,
    step: 1 | -1,
    limit: number,
    read: (bucket: number, n: number) => Promise<types.ResultSet>,
  ): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let bucket = from;
    const more = () => (step > 0 ? bucket <= to : bucket >= to);
    while (out.length < limit && more()) {
      const batch: number[] = [];
      while (batch.length < BUCKET_READ_AHEAD && more()) {
        batch.push(bucket);
        bucket += step;
      }
      const need = limit - out.length;
      const pages = await Promise.all(batch.map((b) => read(b, need)));
      for (const page of pages) {
        for (const row of page.rows) {
          if (out.length >= limit) break;
          out.push(rowToMessage(row));
        }
      }
    }
    return out;
  }

  /** Messages after the marker not sent by the user, counted up to UNREAD_CAP. */
  private async countUnread(
    userId: string,
    conversation: Conversation,
    lastReadId: bigint | null,
    lastMessage: StoredMessage | null,
  ): Promise<number> {
    if (!lastMessage || (lastReadId !== null && lastMessage.messageId <= lastReadId)) return 0;
    const after = lastReadId ?? -1n;
    const first = lastReadId === null ? creationBucket(conversation.createdAt) : bucketOfId(after + 1n);
    const last = bucketOfId(lastMessage.messageId);
    let count = 0;
    for (let bucket = first; bucket <= last && count < UNREAD_CAP; bucket++) {
      let pageState: string | undefined;
      do {
        const rs = await this.client.execute(
          `SELECT sender_id FROM ${this.ks}.messages
           WHERE conversation_id = ? AND bucket = ? AND message_id > ?`,
          [conversation.id, bucket, cql.Long.fromString(after.toString())],
          { fetchSize: SCAN_PAGE, ...(pageState ? { pageState } : {}) },
        );
        for (const row of rs.rows) {
          if (row.get('sender_id') !== userId && ++count >= UNREAD_CAP) break;
        }
        pageState = rs.pageState ?? undefined;
      } while (pageState && count < UNREAD_CAP);
    }
    return count;
  }

  /** All rows of a single-partition query, following the driver's paging. */
  private async selectAll(query: string, params: unknown[]): Promise<Row[]> {
    const rows: Row[] = [];
    let pageState: string | undefined;
    do {
      const rs = await this.client.execute(query, params, {
        fetchSize: SCAN_PAGE,
        ...(pageState ? { pageState } : {}),
      });
      rows.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }
}
