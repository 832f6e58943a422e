/**
 * The storage contract on a real Cassandra 5 node, plus what only Cassandra has: buckets,
 * migrations, the dedup crash window, and write latency.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import cassandra from 'cassandra-driver';
import {
  BUCKET_MS,
  bucketOf,
  CassandraStorage,
  type CassandraStorageOptions,
  idTimestamp,
  toLong,
} from '../../src/storage/cassandra.ts';
import { MIGRATIONS } from '../../src/storage/cassandra-schema.ts';
import { createStorage } from '../../src/storage/index.ts';
import type { StoredMessage } from '../../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../../src/util/snowflake.ts';
import { type CassandraEndpoint, getSharedCassandra } from '../helpers/cassandra.ts';
import { storageContract } from '../storage.contract.ts';

let node: CassandraEndpoint & { close(): Promise<void> };
/** Raw client for checks below the Storage interface and for dropping keyspaces. */
let raw: cassandra.Client;
const keyspaces = new Set<string>();

before(async () => {
  node = await getSharedCassandra();
  raw = new cassandra.Client({
    contactPoints: node.contactPoints,
    localDataCenter: node.localDataCenter,
    protocolOptions: { port: node.port },
  });
  await raw.connect();
});

after(async () => {
  for (const ks of keyspaces) await raw.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
  await raw?.shutdown();
  await node?.close();
});

/** A keyspace no other run uses; dropped when the file finishes. */
function freshKeyspace(): string {
  const ks = `storage_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  keyspaces.add(ks);
  return ks;
}

function options(keyspace: string): CassandraStorageOptions {
  return {
    contactPoints: node.contactPoints,
    port: node.port,
    localDataCenter: node.localDataCenter,
    keyspace,
  };
}

async function dropKeyspace(ks: string): Promise<void> {
  await raw.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
  keyspaces.delete(ks);
}

storageContract('cassandra', async () => {
  const ks = freshKeyspace();
  return {
    storage: new CassandraStorage(options(ks)),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false }),
    cleanup: () => dropKeyspace(ks),
  };
});

storageContract('cassandra via createStorage', async () => {
  const ks = freshKeyspace();
  return {
    storage: createStorage({ kind: 'cassandra', ...options(ks), replicationFactor: 1 }),
    reopen: async () => createStorage({ kind: 'cassandra', ...options(ks) }),
    cleanup: () => dropKeyspace(ks),
  };
});

describe('CassandraStorage specifics', () => {
  let ks: string;
  let s: CassandraStorage;
  const BASE = EPOCH_MS + 40 * 24 * 3600 * 1000;

  before(async () => {
    ks = freshKeyspace();
    s = new CassandraStorage(options(ks));
    await s.init();
  });
  after(async () => {
    await s?.close();
  });

  const msg = (conversationId: string, ms: number, extra: Partial<StoredMessage> = {}): StoredMessage => ({
    conversationId,
    messageId: snowflakeFloor(ms),
    senderId: 'a',
    clientMsgId: null,
    body: `at ${ms}`,
    createdAt: ms,
    ...extra,
  });

  it('records applied migrations and applies none twice', async () => {
    const rs = await raw.execute(`SELECT version FROM ${ks}.schema_migrations`);
    assert.deepEqual(
      rs.rows.map((r) => Number(r.get('version'))).sort(),
      MIGRATIONS.map((m) => m.version),
    );
    const logs: string[] = [];
    const again = new CassandraStorage({ ...options(ks), log: (m) => logs.push(m) });
    await again.init();
    await again.close();
    assert.deepEqual(logs, []);
  });

  it('creates the keyspace with NetworkTopologyStrategy in the local datacenter by default', async () => {
    const rs = await raw.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [
      ks,
    ]);
    const replication = rs.first()?.get('replication') as Record<string, string>;
    assert.match(replication.class ?? '', /NetworkTopologyStrategy/);
    assert.equal(replication[node.localDataCenter], '1');
  });

  it('partitions messages by 10-day bucket of their snowflake time', async () => {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, ['a']);
    const times = [BASE, BASE + BUCKET_MS - 1, BASE + BUCKET_MS, BASE + 5 * BUCKET_MS];
    for (const t of times) await s.appendMessage(msg(c, t));
    const rs = await raw.execute(
      `SELECT bucket, message_id FROM ${ks}.messages WHERE conversation_id = ? ALLOW FILTERING`,
      [c],
    );
    const buckets = rs.rows.map((r) => Number(r.get('bucket'))).sort((x, y) => x - y);
    assert.deepEqual(buckets, times.map(bucketOf));
    assert.equal(BUCKET_MS, 864_000_000);
  });

  it('heals a dedup reservation whose message was never written (crash between the two)', async () => {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, ['a']);
    const reserved = snowflakeFloor(BASE + 1000);
    // What a gateway that died after the reservation leaves behind.
    await raw.execute(
      `INSERT INTO ${ks}.message_dedup (sender_id, client_msg_id, conversation_id, message_id) VALUES (?, ?, ?, ?)`,
      ['a', 'lost', c, toLong(reserved)],
      { prepare: true },
    );
    const resend = msg(c, BASE + 9000, { clientMsgId: 'lost', body: 'resent' });
    const result = await s.appendMessage(resend);
    const expected: StoredMessage = { ...resend, messageId: reserved, createdAt: BASE + 1000 };
    assert.deepEqual(result, { message: expected, duplicate: false });
    assert.deepEqual(await s.getHistory(c, { limit: 10 }), [expected]);
    // From now on it is an ordinary duplicate.
    assert.deepEqual(await s.appendMessage({ ...resend, messageId: resend.messageId + 1n }), {
      message: expected,
      duplicate: true,
    });
  });

  it('a resend repairs the newest-id pointer when only the message row was written', async () => {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, ['a']);
    const m = msg(c, BASE + 2000, { clientMsgId: 'half' });
    // A first attempt that stored the reservation and the message, then failed before the pointer.
    await raw.execute(
      `INSERT INTO ${ks}.message_dedup (sender_id, client_msg_id, conversation_id, message_id) VALUES (?, ?, ?, ?)`,
      ['a', 'half', c, toLong(m.messageId)],
      { prepare: true },
    );
    await raw.execute(
      `INSERT INTO ${ks}.messages (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [c, bucketOf(m.createdAt), toLong(m.messageId), 'a', 'half', m.body, new Date(m.createdAt)],
      { prepare: true },
    );
    assert.deepEqual(await s.getHistory(c, { limit: 5 }), [], 'not visible before it was acked');
    assert.deepEqual(await s.appendMessage({ ...m, messageId: m.messageId + 7n }), {
      message: m,
      duplicate: true,
    });
    assert.deepEqual(await s.getHistory(c, { limit: 5 }), [m]);
  });

  it('finds messages minted slightly before the conversation’s creation time (gateway clock skew)', async () => {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    // Created at the very start of a bucket by a gateway whose clock runs 30 s ahead.
    const created = (bucketOf(BASE) + 1) * BUCKET_MS;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: created }, [
      'a',
      'b',
    ]);
    const early = msg(c, created - 30_000, { senderId: 'b' });
    const later = msg(c, created + 1000, { senderId: 'b' });
    await s.appendMessage(early);
    await s.appendMessage(later);
    assert.deepEqual(await s.getHistory(c, { limit: 5 }), [later, early]);
    const [summary] = (await s.listUserConversations('a')).filter((x) => x.conversation.id === c);
    assert.equal(summary?.unreadCount, 2);
  });

  it('derives write timestamps that grow with the id', () => {
    const ids = [
      snowflakeFloor(BASE),
      snowflakeFloor(BASE) + 1n,
      snowflakeFloor(BASE) + 4095n,
      snowflakeFloor(BASE + 1),
    ];
    const stamps = ids.map((id) => BigInt(idTimestamp(id).toString()));
    for (let i = 1; i < stamps.length; i++) assert.ok((stamps[i] ?? 0n) >= (stamps[i - 1] ?? 0n));
    assert.ok((stamps[3] ?? 0n) > (stamps[0] ?? 0n));
    assert.equal(stamps[0], BigInt(BASE) * 1000n);
  });

  it('reports write latency (sequential appends, one node)', async (t) => {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, ['a']);
    const measure = async (n: number, dedup: boolean): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const m = msg(c, BASE + 60_000 + i + (dedup ? 100_000 : 0), dedup ? { clientMsgId: `lat-${i}` } : {});
        const t0 = performance.now();
        await s.appendMessage(m);
        out.push(performance.now() - t0);
      }
      return out.sort((x, y) => x - y);
    };
    const pct = (xs: number[], p: number) =>
      xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;
    for (const dedup of [false, true]) {
      const xs = await measure(200, dedup);
      t.diagnostic(
        `appendMessage ${dedup ? 'with clientMsgId (LWT + write)' : 'without clientMsgId (plain write)'}: ` +
          `p50 ${pct(xs, 0.5).toFixed(2)} ms, p99 ${pct(xs, 0.99).toFixed(2)} ms, max ${pct(xs, 1).toFixed(2)} ms`,
      );
    }
  });
});

describe('scripts/migrate.ts', () => {
  const script = join(import.meta.dirname, '../../scripts/migrate.ts');
  const run = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', script, ...args],
        {
          cwd: join(import.meta.dirname, '../..'),
        },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  it('creates the keyspace and schema once, then reports it current', async () => {
    const ks = freshKeyspace();
    const args = [
      '--contact-points',
      node.contactPoints.join(','),
      '--port',
      String(node.port),
      '--dc',
      node.localDataCenter,
      '--keyspace',
      ks,
    ];
    const first = await run(args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied 1/);
    const second = await run(args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /already at version/);
    const rs = await raw.execute(`SELECT version FROM ${ks}.schema_migrations`);
    assert.equal(rs.rowLength, MIGRATIONS.length);
    // The storage can then run without migrating itself.
    const s = new CassandraStorage({ ...options(ks), migrate: false });
    await s.init();
    assert.equal(await s.countOffline('nobody'), 0);
    await s.close();
  });

  it('exits 2 on bad arguments', async () => {
    const r = await run(['--dc', 'dc1', '--keyspace', 'bad-name!']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--keyspace/);
  });
});
