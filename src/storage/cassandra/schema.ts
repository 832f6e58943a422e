/**
 * Cassandra schema as an ordered list of versioned migrations. `migrate()` creates the keyspace
 * if missing, then applies every migration whose version is not yet recorded in
 * `schema_migrations`. Each statement is itself idempotent (IF NOT EXISTS), so a run that died
 * half-way through a migration simply repeats it.
 *
 * Concurrent `migrate()` calls against a fresh keyspace are safe in outcome (every statement is
 * idempotent) but Cassandra 5.0 can log schema disagreement when two nodes create the same table
 * at once; deployments should run `scripts/migrate.ts` once before starting gateways.
 */
import type { Client } from 'cassandra-driver';
import { type Logger, silentLogger } from '../../util/log.ts';

/** Keyspace names Cassandra accepts unquoted (we never quote identifiers). */
const KEYSPACE_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,47}$/;
const OPTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Keyspace replication in CQL's own shape, e.g. `{class: 'SimpleStrategy', replication_factor: 1}`
 * or `{class: 'NetworkTopologyStrategy', 'us-east': 3, 'eu-west': 3}`.
 */
export interface ReplicationOptions {
  readonly class: 'SimpleStrategy' | 'NetworkTopologyStrategy';
  readonly [option: string]: string | number;
}

/** Dedup records outlive any client's resend window by far; expiring them bounds the table. */
export const DEDUP_TTL_SECONDS = 30 * 24 * 3600;

export interface Migration {
  version: number;
  description: string;
  /** CQL statements, each idempotent, with table names qualified by `ks`. */
  statements(ks: string): string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'conversations, membership, messages by 10-day bucket, dedup, read markers, offline queue',
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.conversations (
        conversation_id text PRIMARY KEY,
        kind text,
        title text,
        created_by text,
        created_at timestamp,
        initial_members set<text>,
        members_ready boolean
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.members_by_conversation (
        conversation_id text,
        user_id text,
        PRIMARY KEY ((conversation_id), user_id)
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.conversations_by_user (
        user_id text,
        conversation_id text,
        PRIMARY KEY ((user_id), conversation_id)
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.messages (
        conversation_id text,
        bucket int,
        message_id bigint,
        sender_id text,
        client_msg_id text,
        body text,
        created_at timestamp,
        PRIMARY KEY ((conversation_id, bucket), message_id)
      ) WITH CLUSTERING ORDER BY (message_id DESC)`,
      // Newest message id per conversation, written with a timestamp derived from the id so the
      // largest id wins whatever order concurrent writers land in. Bounds history bucket walks.
      `CREATE TABLE IF NOT EXISTS ${ks}.conversation_last_message (
        conversation_id text PRIMARY KEY,
        message_id bigint
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.message_dedup (
        sender_id text,
        client_msg_id text,
        conversation_id text,
        message_id bigint,
        PRIMARY KEY ((sender_id, client_msg_id))
      ) WITH default_time_to_live = ${DEDUP_TTL_SECONDS}`,
      `CREATE TABLE IF NOT EXISTS ${ks}.read_markers (
        user_id text,
        conversation_id text,
        last_read_id bigint,
        PRIMARY KEY ((user_id), conversation_id)
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.offline_queue (
        user_id text,
        message_id bigint,
        conversation_id text,
        sender_id text,
        client_msg_id text,
        body text,
        created_at timestamp,
        PRIMARY KEY ((user_id), message_id)
      ) WITH CLUSTERING ORDER BY (message_id ASC)`,
    ],
  },
  {
    version: 2,
    description: 'late index: messages that became visible late, by (conversation, bucket of visible_at)',
    statements: (ks) => [
      // The message's columns are copied so a replay needs no second read. No TTL: a resume
      // position may be weeks old, and a late message dropped from here would be missed for good.
      `CREATE TABLE IF NOT EXISTS ${ks}.late_messages (
        conversation_id text,
        bucket int,
        visible_at timestamp,
        message_id bigint,
        sender_id text,
        client_msg_id text,
        body text,
        created_at timestamp,
        PRIMARY KEY ((conversation_id, bucket), visible_at, message_id)
      ) WITH CLUSTERING ORDER BY (visible_at ASC, message_id ASC)`,
    ],
  },
  {
    version: 3,
    description: 'storage-attached index on messages.client_msg_id: a resend finds its stored message',
    statements: (ks) => [
      // With a Redis dedup arbiter the message row is the durable dedup record (dedup-arbiter.ts):
      // one row per message instead of two. Cheaper per insert than the second row, measured in
      // bench/micro/cassandra-rows.ts (docs/benchmarks.md). On a keyspace with messages the index
      // builds in the background; lookups fail (and their resends are answered `unavailable`,
      // retried by clients) until it is built — docs/operations.md.
      `CREATE INDEX IF NOT EXISTS messages_client_msg_id ON ${ks}.messages (client_msg_id) USING 'sai'`,
    ],
  },
  {
    version: 4,
    description:
      "search: messages.terms (the body's search terms) with a storage-attached index on its values",
    statements: (ks) => [
      // SAI in Cassandra 5.0 cannot tokenize a body (no analyzer) and SASI is off by default and
      // cannot AND two words, so the store computes the terms (src/protocol/search.ts) and SAI
      // indexes them as set values: docs/architecture.md, "Search". Rows written before this
      // migration have no terms and are not found until rewritten (docs/operations.md).
      `ALTER TABLE ${ks}.messages ADD IF NOT EXISTS terms set<text>`,
      `CREATE INDEX IF NOT EXISTS messages_terms ON ${ks}.messages (VALUES(terms)) USING 'sai'`,
    ],
  },
  {
    version: 5,
    description: 'edits, deletes, reactions: change records in the message stream, and the state they leave',
    statements: (ks) =>
      // On all three tables that hold message rows or their copies. A change record is a row with
      // change_kind and target_id set; revision/deleted/edited_at/edit_count are the state edits
      // and deletes left on a message (docs/architecture.md, "Edits, deletes and reactions").
      [
        ...['messages', 'offline_queue', 'late_messages'].map(
          (table) => `ALTER TABLE ${ks}.${table} ADD IF NOT EXISTS (
          change_kind text, target_id bigint, change_emoji text, revision bigint, deleted boolean,
          edited_at timestamp, edit_count int)`,
        ),
        // Reactions: one map cell per (emoji, user), each its own last-writer-wins register
        // (written at the reaction change's id timestamp); reactions_rev the largest such change.
        `ALTER TABLE ${ks}.messages ADD IF NOT EXISTS (reactions map<text, boolean>, reactions_rev bigint)`,
      ],
  },
  {
    version: 6,
    description: 'attachments: chunks, metadata, uploads in progress; messages carry attachment refs',
    statements: (ks) => [
      // One partition per attachment: its chunks are read in order and dropped with one delete.
      // The partition is at most `attachments.maxBytes` (default 10 MiB), well under the sizes
      // Cassandra warns about.
      `CREATE TABLE IF NOT EXISTS ${ks}.attachment_chunks (
        attachment_id text,
        chunk_index int,
        data blob,
        PRIMARY KEY ((attachment_id), chunk_index)
      )`,
      // Written last: an attachment is visible only once this row exists (nothing half-stored).
      `CREATE TABLE IF NOT EXISTS ${ks}.attachments (
        attachment_id text PRIMARY KEY,
        conversation_id text,
        uploader_id text,
        content_type text,
        size bigint,
        name text,
        width int,
        height int,
        created_at timestamp,
        chunk_size int
      )`,
      // Uploads in progress by day, for the sweeper; a row is deleted at commit or discard. The
      // TTL only bounds the table if a sweeper never runs (it looks back two days).
      `CREATE TABLE IF NOT EXISTS ${ks}.attachment_uploads (
        day int,
        started_at timestamp,
        attachment_id text,
        conversation_id text,
        PRIMARY KEY ((day), started_at, attachment_id)
      ) WITH default_time_to_live = 604800`,
      // A message's attachment refs as JSON (small, read whole, never queried by field).
      `ALTER TABLE ${ks}.messages ADD IF NOT EXISTS attachments text`,
      `ALTER TABLE ${ks}.offline_queue ADD IF NOT EXISTS attachments text`,
      `ALTER TABLE ${ks}.late_messages ADD IF NOT EXISTS attachments text`,
    ],
  },
  {
    version: 7,
    description: 'replies and threads: reply_to/thread_root on message rows, thread index, root summary',
    statements: (ks) => [
      // A reply names its parent and its thread's root, on every table holding message rows.
      ...['messages', 'offline_queue', 'late_messages'].map(
        (table) => `ALTER TABLE ${ks}.${table} ADD IF NOT EXISTS (reply_to bigint, thread_root bigint)`,
      ),
      // A root's summary, recomputed from the thread index after each reply is recorded and
      // written at the newest reply's id timestamp (docs/architecture.md, "Replies and threads").
      `ALTER TABLE ${ks}.messages ADD IF NOT EXISTS (thread_count int, thread_last bigint)`,
      // The thread index: a row per reply, so recording a reply twice counts it once.
      `CREATE TABLE IF NOT EXISTS ${ks}.thread_replies (
        conversation_id text,
        root_id bigint,
        reply_id bigint,
        PRIMARY KEY ((conversation_id, root_id), reply_id)
      ) WITH CLUSTERING ORDER BY (reply_id DESC)`,
    ],
  },
  {
    version: 8,
    description: 'token revocations: by jti (until the token expires) and by user (issued before)',
    statements: (ks) => [
      // Two partitions, read whole by every gateway at start and on refresh (revocations.ts).
      `CREATE TABLE IF NOT EXISTS ${ks}.token_revocations (
        scope text,
        key text,
        user_id text,
        at bigint,
        PRIMARY KEY (scope, key)
      )`,
    ],
  },
  {
    version: 9,
    description: 'mutes: per (conversation, user) and per (user, conversation), written at the setting time',
    statements: (ks) => [
      // Read on the offline path (one row per recipient of a conversation's message).
      `CREATE TABLE IF NOT EXISTS ${ks}.conversation_mutes (
        conversation_id text,
        user_id text,
        muted boolean,
        PRIMARY KEY (conversation_id, user_id)
      )`,
      // A user's mutes, listed.
      `CREATE TABLE IF NOT EXISTS ${ks}.user_mutes (
        user_id text,
        conversation_id text,
        muted boolean,
        PRIMARY KEY (user_id, conversation_id)
)`,
    ],
  },
  {
    version: 10,
    description: 'moderation: group roles and bans, user blocks',
    statements: (ks) => [
      // Each cell is written at its change's id timestamp: the larger revision wins
      // (cassandra/moderation.ts). Entries are kept as false/member, never deleted, so a stale
      // change replicated late cannot resurrect what a newer one turned off.
      `CREATE TABLE IF NOT EXISTS ${ks}.conversation_roles (
        conversation_id text,
        user_id text,
        role text,
        PRIMARY KEY (conversation_id, user_id)
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.conversation_bans (
        conversation_id text,
        user_id text,
        banned boolean,
        banned_by text,
        PRIMARY KEY (conversation_id, user_id)
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.user_blocks (
        user_id text,
        target_id text,
        blocked boolean,
        PRIMARY KEY (user_id, target_id)
      )`,
    ],
  },
  {
    version: 11,
    description: "retention and erasure: a conversation's own retention period, erasure reports",
    statements: (ks) => [
      // Seconds; null follows the global period, 0 keeps forever. Written at the setting's time
      // so the last setting wins in every region (cassandra/retention.ts).
      `ALTER TABLE ${ks}.conversations ADD IF NOT EXISTS retention_seconds int`,
      // Where the sweeper's last expiry of the conversation stopped: the next starts there.
      `ALTER TABLE ${ks}.conversations ADD IF NOT EXISTS retention_swept_before timestamp`,
      // One row per erasure request and region: the ErasureRecord as JSON (read whole).
      `CREATE TABLE IF NOT EXISTS ${ks}.erasure_reports (
        request_id text,
        region text,
        record text,
        PRIMARY KEY ((request_id), region)
      )`,
    ],
  },
  {
    version: 12,
    description: "home-region moves: the move record per user, the new home's replies",
    statements: (ks) => [
      // The HomeMove as JSON, read and replaced whole (cassandra/home-moves.ts). Every region
      // reads the whole table into its directory: one row per user ever moved.
      `CREATE TABLE IF NOT EXISTS ${ks}.home_moves (
        user_id text PRIMARY KEY,
        record text
      )`,
      `CREATE TABLE IF NOT EXISTS ${ks}.home_move_replies (
        user_id text,
        move_id text,
        phase text,
        round int,
        reply text,
        PRIMARY KEY ((user_id), move_id, phase, round)
      )`,
    ],
  },
  {
    version: 13,
    description: 'home-region moves: the users whose move is not finished',
    statements: (ks) => [
      // Gateways re-read these every refreshMs, and the whole home_moves table only now and
      // then: it holds a row for every user ever moved (cassandra/home-moves.ts).
      `CREATE TABLE IF NOT EXISTS ${ks}.home_moves_active (
        user_id text PRIMARY KEY
      )`,
    ],
  },
];

export function assertKeyspaceName(keyspace: string): void {
  if (!KEYSPACE_NAME.test(keyspace)) {
    throw new RangeError(`keyspace must match ${KEYSPACE_NAME}, got ${JSON.stringify(keyspace)}`);
  }
}

/** Renders replication as a CQL map literal, rejecting anything that is not a plain name/number. */
export function replicationCql(replication: ReplicationOptions): string {
  if (replication.class !== 'SimpleStrategy' && replication.class !== 'NetworkTopologyStrategy') {
    throw new RangeError(`replication.class must be SimpleStrategy or NetworkTopologyStrategy`);
  }
  const parts = [`'class': '${replication.class}'`];
  for (const [key, value] of Object.entries(replication)) {
    if (key === 'class') continue;
    if (!OPTION_NAME.test(key)) throw new RangeError(`replication option name ${JSON.stringify(key)}`);
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`replication.${key} must be a positive integer, got ${JSON.stringify(value)}`);
    }
    parts.push(`'${key}': ${n}`);
  }
  if (parts.length === 1) throw new RangeError('replication needs a replication factor');
  return `{${parts.join(', ')}}`;
}

export function createKeyspaceCql(keyspace: string, replication: ReplicationOptions): string {
  assertKeyspaceName(keyspace);
  return `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replicationCql(replication)}`;
}

/**
 * Creates the keyspace and applies pending migrations in version order. Returns the versions
 * applied by this call (empty when the schema was already current).
 */
export async function migrate(
  client: Client,
  keyspace: string,
  replication: ReplicationOptions,
  log: Logger = silentLogger,
): Promise<number[]> {
  await client.execute(createKeyspaceCql(keyspace, replication));
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${keyspace}.schema_migrations (
      version int PRIMARY KEY,
      description text,
      applied_at timestamp
    )`,
  );
  const done = new Set<number>();
  const rs = await client.execute(`SELECT version FROM ${keyspace}.schema_migrations`, [], { prepare: true });
  for (const row of rs.rows) done.add(Number(row.get('version')));

  const applied: number[] = [];
  for (const migration of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) continue;
    log.info(
      { version: migration.version, description: migration.description, keyspace },
      `cassandra: applying migration ${migration.version} (${migration.description}) to ${keyspace}`,
    );
    // DDL is not prepared: schema statements run once and the driver waits for schema agreement.
    for (const statement of migration.statements(keyspace)) await client.execute(statement);
    await client.execute(
      `INSERT INTO ${keyspace}.schema_migrations (version, description, applied_at) VALUES (?, ?, ?)`,
      [migration.version, migration.description, new Date()],
      { prepare: true },
    );
    applied.push(migration.version);
  }
  return applied;
}
