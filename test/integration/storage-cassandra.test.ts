/**
 * The storage contract on a real Cassandra 5 node (with and without a Redis dedup arbiter), plus
 * what only Cassandra has: buckets, migrations, the dedup crash window, and write latency.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import cassandra from 'cassandra-driver';
import { Redis } from 'ioredis';
import type { DedupStrategyFactory } from '../../src/storage/cassandra/dedup.ts';
import {
  arbiterDedup,
  claimValue,
  DEDUP_CLAIM_TTL_MS,
  dedupKey,
} from '../../src/storage/cassandra/dedup-arbiter.ts';
import { RedisDedupArbiter } from '../../src/storage/cassandra/redis-arbiter.ts';
import { BUCKET_MS, bucketOf, idTimestamp, toLong } from '../../src/storage/cassandra/rows.ts';
import { DEDUP_TTL_SECONDS, MIGRATIONS } from '../../src/storage/cassandra/schema.ts';
import { CassandraStorage, type CassandraStorageOptions } from '../../src/storage/cassandra/storage.ts';
import { createStorage } from '../../src/storage/index.ts';
import type { StoredMessage } from '../../src/storage/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { EPOCH_MS, snowflakeFloor } from '../../src/util/snowflake.ts';
import { attachmentContract } from '../attachments.contract.ts';
import { type CassandraEndpoint, getSharedCassandra } from '../helpers/cassandra.ts';
import { collectingLogger } from '../helpers/log.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';
import { homeMoveContract } from '../home-moves.contract.ts';
import { moderationContract } from '../moderation.contract.ts';
import { muteContract } from '../mutes.contract.ts';
import { revocationContract } from '../revocations.contract.ts';
import { storageContract } from '../storage.contract.ts';

let node: CassandraEndpoint & { close(): Promise<void> };
/** Raw client for checks below the Storage interface and for dropping keyspaces. */
let raw: cassandra.Client;
/** Redis for the dedup arbiter runs. */
let redis: RedisHandle;
const keyspaces = new Set<string>();

before(async () => {
  [node, redis] = await Promise.all([getSharedCassandra(), startRedis()]);
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
  await Promise.all([node?.close(), redis?.close()]);
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

attachmentContract('cassandra', async () => {
  const ks = freshKeyspace();
  return {
    storage: new CassandraStorage(options(ks)),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false }),
    cleanup: () => dropKeyspace(ks),
  };
});

revocationContract('cassandra', async () => {
  const ks = freshKeyspace();
  return {
    storage: new CassandraStorage(options(ks)),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false }),
    cleanup: () => dropKeyspace(ks),
  };
});

moderationContract('cassandra', async () => {
  const ks = freshKeyspace();
  return {
    storage: new CassandraStorage(options(ks)),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false }),
    cleanup: () => dropKeyspace(ks),
  };
});

homeMoveContract('cassandra', async () => {
  const ks = freshKeyspace();
  return {
    storage: new CassandraStorage(options(ks)),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false }),
    cleanup: () => dropKeyspace(ks),
  };
});

muteContract('cassandra', async () => {
  const ks = freshKeyspace();
  return {
    storage: new CassandraStorage(options(ks)),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false }),
    cleanup: () => dropKeyspace(ks),
  };
});

/** Dedup by an arbiter on the test Redis whose keys are the keyspace's own. */
function arbiter(ks: string): DedupStrategyFactory {
  return arbiterDedup(new RedisDedupArbiter({ url: redis.url, keyPrefix: `chat:${ks}:dedup:` }));
}

storageContract('cassandra with a Redis dedup arbiter', async () => {
  const ks = freshKeyspace();
  return {
    storage: new CassandraStorage({ ...options(ks), dedup: arbiter(ks) }),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false, dedup: arbiter(ks) }),
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
      rs.rows.map((r) => Number(r.get('version'))).sort((a, b) => a - b),
      MIGRATIONS.map((m) => m.version).sort((a, b) => a - b),
    );
    const { log, records: logs } = collectingLogger();
    const again = new CassandraStorage({ ...options(ks), log });
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

  it('partitions the late index by 10-day bucket of visible_at, with no TTL', async () => {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, ['a']);
    const m = msg(c, BASE + 1000);
    const times = [BASE + BUCKET_MS - 1, BASE + BUCKET_MS, BASE + 5 * BUCKET_MS];
    for (const t of times) await s.recordLate(m, t);
    const rs = await raw.execute(
      `SELECT bucket, visible_at, TTL(body) AS ttl FROM ${ks}.late_messages WHERE conversation_id = ? ALLOW FILTERING`,
      [c],
    );
    const rows = rs.rows
      .map((r) => ({
        bucket: Number(r.get('bucket')),
        at: (r.get('visible_at') as Date).getTime(),
        ttl: r.get('ttl'),
      }))
      .sort((x, y) => x.at - y.at);
    assert.deepEqual(
      rows,
      times.map((t) => ({ bucket: bucketOf(t), at: t, ttl: null })),
    );
  });

  it('lists late entries stamped on a gateway clock up to a minute ahead of its own', async () => {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: Date.now() }, [
      'a',
    ]);
    const m = msg(c, Date.now() - 60_000);
    const ahead = Date.now() + 30_000;
    await s.recordLate(m, ahead);
    assert.deepEqual(await s.listLate(c, Date.now(), 10), [{ message: m, visibleAt: ahead }]);
  });

  it('adds the late index to a keyspace created before it (migration 2)', async () => {
    const old = freshKeyspace();
    const first = new CassandraStorage(options(old));
    await first.init();
    await first.close();
    // What a keyspace at version 1 looks like (later migrations, which may alter late_messages,
    // not applied either).
    const later = MIGRATIONS.map((m) => m.version).filter((v) => v >= 2);
    await raw.execute(`DROP TABLE ${old}.late_messages`);
    await raw.execute(`DELETE FROM ${old}.schema_migrations WHERE version IN (${later.join(', ')})`);
    const { log, records } = collectingLogger();
    const upgraded = new CassandraStorage({ ...options(old), log });
    try {
      await upgraded.init();
      assert.deepEqual(
        records.map((r) => r.version),
        later,
      );
      const m = msg('conv-upgraded', BASE + 1000);
      await upgraded.recordLate(m, BASE + 60_000);
      assert.deepEqual(await upgraded.listLate('conv-upgraded', 0, 10), [
        { message: m, visibleAt: BASE + 60_000 },
      ]);
    } finally {
      await upgraded.close();
      await dropKeyspace(old);
    }
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

describe('CassandraStorage with a Redis dedup arbiter (no lightweight transaction)', () => {
  let ks: string;
  /** Two gateways of one region: separate stores and arbiters, one Cassandra and one Redis. */
  let gw1: CassandraStorage;
  let gw2: CassandraStorage;
  let redisRaw: Redis;
  const BASE = EPOCH_MS + 60 * 24 * 3600 * 1000;
  const prefix = () => `chat:${ks}:dedup:`;

  before(async () => {
    ks = freshKeyspace();
    gw1 = new CassandraStorage({ ...options(ks), dedup: arbiter(ks) });
    await gw1.init();
    gw2 = new CassandraStorage({ ...options(ks), migrate: false, dedup: arbiter(ks) });
    await gw2.init();
    redisRaw = new Redis(redis.url);
  });
  after(async () => {
    redisRaw?.disconnect();
    await Promise.all([gw1?.close(), gw2?.close()]);
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

  async function conversation(): Promise<string> {
    const c = `conv-${randomBytes(3).toString('hex')}`;
    await gw1.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, [
      'a',
    ]);
    return c;
  }

  /** Message rows of a conversation, read below the Storage interface. */
  async function messageRows(c: string): Promise<bigint[]> {
    const rs = await raw.execute(
      `SELECT message_id FROM ${ks}.messages WHERE conversation_id = ? ALLOW FILTERING`,
      [c],
      { prepare: true },
    );
    return rs.rows.map((r) => BigInt(String(r.get('message_id'))));
  }

  async function dedupRow(senderId: string, clientMsgId: string) {
    const rs = await raw.execute(
      `SELECT conversation_id, message_id, TTL(message_id) AS ttl FROM ${ks}.message_dedup
       WHERE sender_id = ? AND client_msg_id = ?`,
      [senderId, clientMsgId],
      { prepare: true },
    );
    const row = rs.first();
    return row
      ? {
          conversationId: String(row.get('conversation_id')),
          messageId: BigInt(String(row.get('message_id'))),
          ttl: Number(row.get('ttl')),
        }
      : null;
  }

  it('concurrent appends of one client message on two gateways store exactly one message', async (t) => {
    const c = await conversation();
    const rounds = 8;
    const winners: bigint[] = [];
    let stored = 0;
    for (let round = 0; round < rounds; round++) {
      const attempts = Array.from({ length: 10 }, (_, i) =>
        msg(c, BASE + round * 1000 + i, { clientMsgId: `race-${round}`, body: `racing ${round}` }),
      );
      const results = await Promise.all(attempts.map((m, i) => (i % 2 === 0 ? gw1 : gw2).appendMessage(m)));
      const winner = results[0]?.message.messageId;
      assert.ok(winner !== undefined);
      for (const r of results) assert.equal(r.message.messageId, winner, `round ${round}`);
      assert.ok(
        results.some((r) => !r.duplicate),
        `round ${round}: one attempt stored it`,
      );
      stored += results.filter((r) => !r.duplicate).length;
      assert.ok(
        attempts.some((m) => m.messageId === winner),
        'the winner is one of the attempts',
      );
      assert.equal(await dedupRow('a', `race-${round}`), null, 'no dedup row: the message row is the record');
      assert.equal(await redisRaw.get(prefix() + dedupKey('a', c, `race-${round}`)), claimValue(c, winner));
      winners.push(winner);
    }
    assert.deepEqual(
      (await messageRows(c)).sort(),
      [...winners].sort(),
      'one message row per client message',
    );
    assert.equal((await gw2.getHistory(c, { limit: 50 })).length, rounds);
    // More than one per round means a loser gave up waiting for the holder and wrote the same
    // message (same id) itself: harmless to the data, but delivered live twice.
    t.diagnostic(`${stored} attempts answered "stored" for ${rounds} messages (${rounds * 10} attempts)`);
  });

  it('reports write latency with the arbiter (sequential appends, one node)', async (t) => {
    const c = await conversation();
    const xs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const m = msg(c, BASE + 100_000 + i, { clientMsgId: `lat-${i}` });
      const t0 = performance.now();
      await gw1.appendMessage(m);
      xs.push(performance.now() - t0);
    }
    xs.sort((x, y) => x - y);
    const pct = (p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;
    t.diagnostic(
      `appendMessage with clientMsgId, not a first attempt (index lookup + Redis claim + write): p50 ${pct(0.5).toFixed(2)} ms, ` +
        `p99 ${pct(0.99).toFixed(2)} ms, max ${pct(1).toFixed(2)} ms`,
    );
    assert.equal((await messageRows(c)).length, 200);
  });

  it('writes one row per client message and the Redis claim with a short TTL', async () => {
    const c = await conversation();
    const m = msg(c, BASE + 20_000, { clientMsgId: 'ttl' });
    await gw1.appendMessage(m, { firstAttempt: true });
    assert.equal(await dedupRow('a', 'ttl'), null);
    assert.deepEqual(await messageRows(c), [m.messageId]);
    const pttl = await redisRaw.pttl(prefix() + dedupKey('a', c, 'ttl'));
    assert.ok(pttl > DEDUP_CLAIM_TTL_MS - 60_000 && pttl <= DEDUP_CLAIM_TTL_MS, `pttl ${pttl}`);
  });

  it('a resend after the Redis claim is gone is recognised from its message row (client_msg_id index)', async () => {
    const c = await conversation();
    const first = msg(c, BASE + 30_000, { clientMsgId: 'gone', body: 'first' });
    assert.deepEqual(await gw1.appendMessage(first, { firstAttempt: true }), {
      message: first,
      duplicate: false,
    });
    // Redis restarted without persistence, failed over, or the claim expired.
    assert.equal(await redisRaw.del(prefix() + dedupKey('a', c, 'gone')), 1);
    const resend = msg(c, BASE + 35_000, { clientMsgId: 'gone', body: 'first' });
    assert.deepEqual(await gw2.appendMessage(resend), { message: first, duplicate: true });
    assert.deepEqual(await messageRows(c), [first.messageId]);
    // Recognised before any claim was made.
    assert.equal(await redisRaw.exists(prefix() + dedupKey('a', c, 'gone')), 0);
  });

  it('finds the stored message of a resend in an earlier bucket, within the dedup window', async () => {
    const c = await conversation();
    const first = msg(c, BASE + 1000, { clientMsgId: 'old', body: 'weeks ago' });
    await gw1.appendMessage(first, { firstAttempt: true });
    await redisRaw.del(prefix() + dedupKey('a', c, 'old'));
    // Three buckets (30 days) later, just inside DEDUP_TTL_SECONDS.
    const later = BASE + 1000 + DEDUP_TTL_SECONDS * 1000 - 60_000;
    const resend = msg(c, later, { clientMsgId: 'old', body: 'weeks ago' });
    assert.notEqual(bucketOf(later), bucketOf(first.createdAt));
    assert.deepEqual(await gw2.appendMessage(resend), { message: first, duplicate: true });
  });

  it('a first attempt is decided by the claim alone: no lookup of an earlier copy', async () => {
    const c = await conversation();
    const first = msg(c, BASE + 80_000, { clientMsgId: 'fa', body: 'x' });
    await gw1.appendMessage(first, { firstAttempt: true });
    // In flight at the same time: the claim decides, and the second attempt settles on the first.
    const concurrent = msg(c, BASE + 80_500, { clientMsgId: 'fa', body: 'x' });
    assert.deepEqual(await gw2.appendMessage(concurrent, { firstAttempt: true }), {
      message: first,
      duplicate: true,
    });
    // Once the claim is gone, a client that wrongly says "first attempt" gets a second message:
    // the server trusted it and did not look. (The SDK says so only for a message no earlier
    // attempt or session can have sent.)
    await redisRaw.del(prefix() + dedupKey('a', c, 'fa'));
    const wrong = msg(c, BASE + 81_000, { clientMsgId: 'fa', body: 'x' });
    assert.deepEqual(await gw2.appendMessage(wrong, { firstAttempt: true }), {
      message: wrong,
      duplicate: false,
    });
    assert.deepEqual((await messageRows(c)).sort(), [first.messageId, wrong.messageId].sort());
  });

  it('heals a claim whose holder crashed before writing anything, under the claimed id', async () => {
    const c = await conversation();
    const claimed = snowflakeFloor(BASE + 40_000);
    // What a gateway that died right after its claim leaves behind: the claim, and no rows.
    await redisRaw.set(prefix() + dedupKey('a', c, 'crashed'), claimValue(c, claimed), 'PX', 60_000);
    const resend = msg(c, BASE + 49_000, { clientMsgId: 'crashed', body: 'resent' });
    const result = await gw2.appendMessage(resend);
    const expected: StoredMessage = { ...resend, messageId: claimed, createdAt: BASE + 40_000 };
    assert.deepEqual(result, { message: expected, duplicate: false });
    assert.deepEqual(await messageRows(c), [claimed]);
    // The healed message row is its record: recognised once the claim is gone.
    await redisRaw.del(prefix() + dedupKey('a', c, 'crashed'));
    assert.deepEqual(await gw1.appendMessage({ ...resend, messageId: resend.messageId + 1n }), {
      message: expected,
      duplicate: true,
    });
    assert.deepEqual(await messageRows(c), [claimed]);
  });

  it('keys (sender, clientMsgId) unambiguously', async () => {
    const c = await conversation();
    // Naive concatenation would make these one key.
    const m1 = msg(c, BASE + 60_000, { senderId: 'a:b', clientMsgId: 'c' });
    const m2 = msg(c, BASE + 60_001, { senderId: 'a', clientMsgId: 'b:c' });
    assert.equal((await gw1.appendMessage(m1)).duplicate, false);
    assert.equal((await gw2.appendMessage(m2)).duplicate, false);
    assert.deepEqual((await messageRows(c)).sort(), [m1.messageId, m2.messageId].sort());
  });

  it('putReplica claims the client message unless an attempt here holds it', async () => {
    const c = await conversation();
    const replica = msg(c, BASE + 70_000, { clientMsgId: 'rep' });
    await gw1.putReplica(replica);
    await gw2.putReplica(replica);
    assert.equal(await redisRaw.get(prefix() + dedupKey('a', c, 'rep')), claimValue(c, replica.messageId));
    assert.deepEqual(await gw2.appendMessage({ ...replica, messageId: replica.messageId + 5n }), {
      message: replica,
      duplicate: true,
    });

    // A local attempt for the same client message is in flight (claimed, nothing written yet):
    // the replica leaves the reservation to it, and both messages exist, as with the LWT.
    const local = snowflakeFloor(BASE + 71_000);
    await redisRaw.set(prefix() + dedupKey('a', c, 'rep2'), claimValue(c, local), 'PX', 60_000);
    const other = msg(c, BASE + 72_000, { clientMsgId: 'rep2' });
    await gw1.putReplica(other);
    assert.equal(await redisRaw.get(prefix() + dedupKey('a', c, 'rep2')), claimValue(c, local));
    assert.deepEqual((await messageRows(c)).sort(), [replica.messageId, other.messageId].sort());
  });

  it('runs no Paxos round for client messages (nothing in system.paxos for message_dedup)', async () => {
    const tableId = async (keyspace: string) =>
      String(
        (
          await raw.execute(
            'SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
            [keyspace, 'message_dedup'],
            { prepare: true },
          )
        )
          .first()
          ?.get('id'),
      );
    const paxosRows = async (keyspace: string) => {
      const id = await tableId(keyspace);
      const rs = await raw.execute('SELECT cf_id FROM system.paxos', [], { fetchSize: 100_000 });
      return rs.rows.filter((r) => String(r.get('cf_id')) === id).length;
    };
    const c = await conversation();
    await gw1.appendMessage(msg(c, BASE + 80_000, { clientMsgId: 'no-paxos' }));
    assert.equal(await paxosRows(ks), 0);
    // The same append without an arbiter does run one, so the check above can see one.
    const lwtKs = freshKeyspace();
    const lwt = new CassandraStorage(options(lwtKs));
    await lwt.init();
    try {
      await lwt.appendMessage(msg(c, BASE + 80_000, { clientMsgId: 'paxos' }));
      assert.ok((await paxosRows(lwtKs)) > 0);
    } finally {
      await lwt.close();
      await dropKeyspace(lwtKs);
    }
  });

  it('fails appends with a clientMsgId when Redis is unreachable; others still succeed', async () => {
    const own = await startRedis();
    const s = new CassandraStorage({
      ...options(ks),
      migrate: false,
      dedup: arbiterDedup(new RedisDedupArbiter({ url: own.url, log: silentLogger })),
    });
    try {
      await s.init();
      await own.close();
      const c = await conversation();
      await assert.rejects(s.appendMessage(msg(c, BASE + 90_000, { clientMsgId: 'down' })));
      assert.equal((await s.appendMessage(msg(c, BASE + 90_001))).duplicate, false);
      assert.deepEqual(await messageRows(c), [snowflakeFloor(BASE + 90_001)]);
      assert.equal(await dedupRow('a', 'down'), null);
    } finally {
      await s.close();
      await own.close();
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
