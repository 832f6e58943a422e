/**
 * `CassandraStorage`: the `Storage` contract on Apache Cassandra (one keyspace per region),
 * following Discord's message schema: messages partitioned by (conversation, 10-day bucket) and
 * clustered by snowflake id, newest first. Every statement is prepared and runs at LOCAL_QUORUM
 * (lightweight transactions at LOCAL_SERIAL), so a resolved write is durable in the local
 * datacenter. Tables: see `schema.ts`.
 *
 * This class only composes the parts, each owning its tables' statements: `conversations.ts`
 * (conversations and members), `messages.ts` (storing and paging messages), `read-state.ts`
 * (read markers, unread counts, the conversation list), `offline-queue.ts`, `late-index.ts`
 * (messages that became visible late, for resume positions), `changes.ts` (edits and deletes
 * applied to message rows and their copies), `attachments.ts` (uploaded files), and the injected
 * client-message dedup strategy (`dedup.ts`: a lightweight transaction per message by default,
 * or a `DedupArbiter` in the region's Redis).
 */

import { ServiceStartError } from '../../errors.ts';
import type { Logger } from '../../util/log.ts';
import type {
  AppendOptions,
  AppendResult,
  ChangeApply,
  Conversation,
  ConversationSummary,
  HistoryQuery,
  LateMessage,
  ReactionApply,
  SearchPage,
  SearchQuery,
  Storage,
  StoredMessage,
} from '../types.ts';
import { CassandraAttachments } from './attachments.ts';
import { ChangeStore } from './changes.ts';
import { ConversationStore } from './conversations.ts';
import type { DedupStrategy, DedupStrategyFactory } from './dedup.ts';
import { lwtDedup } from './dedup-lwt.ts';
import { GroupCommit, type GroupCommitOptions } from './group-commit.ts';
import { CassandraHomeMoves } from './home-moves.ts';
import { LateIndex } from './late-index.ts';
import { MessageStore } from './messages.ts';
import { CassandraModeration } from './moderation.ts';
import { CassandraMutes } from './mutes.ts';
import { OfflineQueue } from './offline-queue.ts';
import { ReadState } from './read-state.ts';
import { CassandraRetention } from './retention.ts';
import { CassandraRevocations } from './revocations.ts';
import { migrate, type ReplicationOptions } from './schema.ts';
import { MessageSearch } from './search.ts';
import { CqlSession, type SessionOptions } from './session.ts';
import { ThreadStore } from './threads.ts';

export interface CassandraStorageOptions extends SessionOptions {
  /** Used when the keyspace is created. Default NetworkTopologyStrategy, `replicationFactor` in the local DC. */
  replication?: ReplicationOptions;
  /** Shorthand for the default replication (what `regions.yaml` carries). Default 1. */
  replicationFactor?: number;
  /** Creates/migrates the schema in init(). Default true; false when `scripts/migrate.ts` owns it. */
  migrate?: boolean;
  /**
   * How concurrent attempts to store one client message are told apart. The store owns the
   * strategy: init() connects it and close() closes it. Default `lwtDedup` (a lightweight
   * transaction per message); `arbiterDedup(new RedisDedupArbiter(…))` decides in Redis instead.
   */
  dedup?: DedupStrategyFactory;
  /** Migrations applied at init(). Default: silent. */
  log?: Logger;
  /** How writes are grouped into unlogged batches (`group-commit.ts`). */
  groupCommit?: GroupCommitOptions;
  /** Partitions one search reads at most (`search.ts`). Default DEFAULT_SEARCH_PARTITION_BUDGET. */
  searchPartitionBudget?: number;
}

export class CassandraStorage implements Storage {
  private readonly db: CqlSession;
  private readonly replication: ReplicationOptions;
  private readonly dedup: DedupStrategy;
  private readonly conversations: ConversationStore;
  private readonly messages: MessageStore;
  private readonly readState: ReadState;
  private readonly offline: OfflineQueue;
  private readonly late: LateIndex;
  private readonly search: MessageSearch;
  private readonly changes: ChangeStore;
  private readonly threads: ThreadStore;
  /** The store's writes on the send path share batches through it. */
  readonly writes: GroupCommit;
  /** Uploaded files, on the same session (`attachments.ts`). */
  readonly attachments: CassandraAttachments;
  /** Token revocations, on the same session (`revocations.ts`). */
  readonly revocations: CassandraRevocations;
  /** Roles, bans and blocks, on the same session (`moderation.ts`). */
  readonly moderation: CassandraModeration;
  /** Muted conversations, on the same session (`mutes.ts`). */
  readonly mutes: CassandraMutes;
  /** Home-region move records, on the same session (`home-moves.ts`). */
  readonly homeMoves: CassandraHomeMoves;
  /** Retention and erasure, on the same session (`retention.ts`). */
  readonly retention: CassandraRetention;

  constructor(private readonly options: CassandraStorageOptions) {
    this.db = new CqlSession(options);
    this.replication = options.replication ?? {
      class: 'NetworkTopologyStrategy',
      [options.localDataCenter]: options.replicationFactor ?? 1,
    };
    this.writes = new GroupCommit(this.db.client, options.groupCommit);
    this.conversations = new ConversationStore(this.db);
    const dedup = options.dedup ?? lwtDedup;
    this.messages = new MessageStore(
      this.db,
      this.writes,
      (findStored) => dedup(this.db, findStored),
      (id) => this.conversations.createdAtOf(id),
    );
    this.dedup = this.messages.dedup;
    this.readState = new ReadState(this.db, this.conversations, this.messages);
    this.offline = new OfflineQueue(this.db, this.writes);
    this.late = new LateIndex(this.db, (id) => this.conversations.createdAtOf(id));
    this.search = new MessageSearch(
      this.db,
      (id) => this.conversations.createdAtOf(id),
      (id) => this.messages.newestBucket(id),
      options.searchPartitionBudget,
    );
    this.changes = new ChangeStore(this.db, this.messages, this.late);
    this.attachments = new CassandraAttachments(this.db);
    this.revocations = new CassandraRevocations(this.db);
    this.moderation = new CassandraModeration(this.db);
    this.mutes = new CassandraMutes(this.db);
    this.homeMoves = new CassandraHomeMoves(this.db);
    this.threads = new ThreadStore(this.db, this.messages);
    this.retention = new CassandraRetention(this.db, {
      createdAtOf: (id) => this.conversations.createdAtOf(id),
      newestBucket: (id) => this.messages.newestBucket(id),
      listMembers: (id) => this.conversations.listMembers(id),
      conversationExists: async (id) => (await this.conversations.getConversation(id)) !== null,
    });
  }

  async init(): Promise<void> {
    const target = `${this.options.contactPoints.join(',')}:${this.options.port ?? 9042}`;
    await Promise.all([
      this.db.client.connect().catch((err: unknown) => {
        throw new ServiceStartError('cassandra', 'storage', target, err);
      }),
      this.dedup.init(),
    ]);
    if (this.options.migrate !== false) {
      await migrate(this.db.client, this.db.ks, this.replication, this.options.log);
    }
  }

  async close(): Promise<void> {
    try {
      await this.db.client.shutdown();
    } finally {
      await this.dedup.close();
    }
  }

  async ping(): Promise<void> {
    await this.db.client.execute('SELECT release_version FROM system.local');
  }

  // ---- conversations and membership -------------------------------------------------------

  createConversation(conv: Conversation, members: readonly string[]): Promise<Conversation> {
    return this.conversations.createConversation(conv, members);
  }

  getConversation(id: string): Promise<Conversation | null> {
    return this.conversations.getConversation(id);
  }

  addMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    return this.conversations.addMembers(conversationId, userIds);
  }

  removeMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    return this.conversations.removeMembers(conversationId, userIds);
  }

  listMembers(conversationId: string): Promise<string[]> {
    return this.conversations.listMembers(conversationId);
  }

  isMember(conversationId: string, userId: string): Promise<boolean> {
    return this.conversations.isMember(conversationId, userId);
  }

  listUserConversationIds(userId: string): Promise<string[]> {
    return this.conversations.listUserConversationIds(userId);
  }

  listUserConversations(userId: string): Promise<ConversationSummary[]> {
    return this.readState.listUserConversations(userId);
  }

  // ---- messages ---------------------------------------------------------------------------

  appendMessage(message: StoredMessage, opts?: AppendOptions): Promise<AppendResult> {
    return this.messages.appendMessage(message, opts);
  }

  putReplica(message: StoredMessage): Promise<void> {
    return this.messages.putReplica(message);
  }

  getMessage(conversationId: string, messageId: bigint): Promise<StoredMessage | null> {
    return this.messages.getMessage(conversationId, messageId);
  }

  getHistory(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    return this.messages.getHistory(conversationId, query);
  }

  searchMessages(query: SearchQuery): Promise<SearchPage> {
    return this.search.search(query);
  }

  applyChange(change: ChangeApply): Promise<StoredMessage | null> {
    return this.changes.applyChange(change);
  }

  applyReaction(reaction: ReactionApply): Promise<StoredMessage | null> {
    return this.changes.applyReaction(reaction);
  }

  addThreadReply(reply: StoredMessage): Promise<StoredMessage | null> {
    return this.threads.addThreadReply(reply);
  }

  getThread(conversationId: string, rootId: bigint, query: HistoryQuery): Promise<StoredMessage[]> {
    return this.threads.getThread(conversationId, rootId, query);
  }

  scrubOffline(userIds: readonly string[], conversationId: string, messageId: bigint): Promise<void> {
    return this.changes.scrubOffline(userIds, conversationId, messageId);
  }

  // ---- read markers -----------------------------------------------------------------------

  markRead(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    return this.readState.markRead(userId, conversationId, messageId);
  }

  getReadMarker(userId: string, conversationId: string): Promise<bigint | null> {
    return this.readState.getReadMarker(userId, conversationId);
  }

  // ---- offline queue ----------------------------------------------------------------------

  enqueueOffline(userId: string, messages: readonly StoredMessage[]): Promise<void> {
    return this.offline.enqueueOffline(userId, messages);
  }

  listOffline(userId: string, limit: number, after?: bigint): Promise<StoredMessage[]> {
    return this.offline.listOffline(userId, limit, after);
  }

  ackOffline(userId: string, messageIds: readonly bigint[]): Promise<void> {
    return this.offline.ackOffline(userId, messageIds);
  }

  countOffline(userId: string): Promise<number> {
    return this.offline.countOffline(userId);
  }

  // ---- late index -------------------------------------------------------------------------

  recordLate(message: StoredMessage, visibleAt: number): Promise<void> {
    return this.late.recordLate(message, visibleAt);
  }

  listLate(conversationId: string, sinceVisibleAt: number, limit: number): Promise<LateMessage[]> {
    return this.late.listLate(conversationId, sinceVisibleAt, limit);
  }
}
