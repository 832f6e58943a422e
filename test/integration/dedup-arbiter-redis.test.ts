/**
 * RedisDedupArbiter on a real redis-server: one claim per key, contended claims, expiry, key
 * prefixes, and failing (not hanging) when Redis is gone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisDedupArbiter } from '../../src/storage/cassandra/redis-arbiter.ts';
import { silentLogger } from '../../src/util/log.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';

let redis: RedisHandle;
/** Raw client to look at what the arbiter stored. */
let raw: Redis;
before(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
});
after(async () => {
  raw?.disconnect();
  await redis?.close();
});

const freshPrefix = () => `t-${randomBytes(4).toString('hex')}:dedup:`;

describe('RedisDedupArbiter', () => {
  const open = new Set<RedisDedupArbiter>();
  after(async () => {
    await Promise.all([...open].map((a) => a.close()));
  });

  async function arbiter(keyPrefix = freshPrefix()): Promise<RedisDedupArbiter> {
    const a = new RedisDedupArbiter({ url: redis.url, keyPrefix });
    open.add(a);
    await a.init();
    return a;
  }

  it('the first claim wins; later claims get the holder’s value back and change nothing', async () => {
    const a = await arbiter();
    assert.equal(await a.claim('k', 'conv-1 101', 60_000), null);
    assert.equal(await a.claim('k', 'conv-1 102', 60_000), 'conv-1 101');
    assert.equal(await a.claim('k', 'conv-1 101', 60_000), 'conv-1 101', 'a retry of the holder sees itself');
    assert.equal(await raw.get(`${a.keyPrefix}k`), 'conv-1 101');
    assert.equal(await a.claim('other', 'conv-1 103', 60_000), null, 'keys are independent');
  });

  it('of many concurrent claims on one key from several connections exactly one wins', async () => {
    const prefix = freshPrefix();
    const arbiters = await Promise.all([arbiter(prefix), arbiter(prefix), arbiter(prefix)]);
    const values = Array.from({ length: 30 }, (_, i) => `conv ${1000 + i}`);
    const replies = await Promise.all(
      values.map((v, i) => (arbiters[i % arbiters.length] as RedisDedupArbiter).claim('race', v, 60_000)),
    );
    const winners = values.filter((_, i) => replies[i] === null);
    assert.equal(winners.length, 1);
    for (const r of replies) if (r !== null) assert.equal(r, winners[0]);
    assert.equal(await raw.get(`${prefix}race`), winners[0]);
  });

  it('a claim lapses after its TTL, and can then be made again', async () => {
    const a = await arbiter();
    assert.equal(await a.claim('short', 'c 1', 200), null);
    const pttl = await raw.pttl(`${a.keyPrefix}short`);
    assert.ok(pttl > 0 && pttl <= 200, `pttl ${pttl}`);
    assert.equal(await a.claim('short', 'c 2', 200), 'c 1');
    await sleep(300);
    assert.equal(await raw.exists(`${a.keyPrefix}short`), 0);
    assert.equal(await a.claim('short', 'c 3', 200), null);
    await assert.rejects(a.claim('short', 'c 4', 0), RangeError);
  });

  it('keeps prefixes apart and stores arbitrary keys verbatim', async () => {
    const [a, b] = [await arbiter(), await arbiter()];
    const key = JSON.stringify(['user with spaces', 'cm:"quoted"\n']);
    assert.equal(await a.claim(key, 'x 1', 60_000), null);
    assert.equal(await b.claim(key, 'y 2', 60_000), null, 'another prefix is another namespace');
    assert.equal(await raw.get(a.keyPrefix + key), 'x 1');
  });

  it('init is idempotent', async () => {
    const a = await arbiter();
    await Promise.all([a.init(), a.init()]);
    assert.equal(await a.claim('k', 'v 1', 1000), null);
  });

  it('fails a claim promptly when Redis is gone, instead of queueing it', async () => {
    const own = await startRedis();
    const a = new RedisDedupArbiter({ url: own.url, log: silentLogger });
    try {
      await a.init();
      assert.equal(await a.claim('k', 'v 1', 1000), null);
      await own.close();
      const t0 = performance.now();
      await assert.rejects(a.claim('k', 'v 2', 1000));
      assert.ok(performance.now() - t0 < 5000, `took ${performance.now() - t0} ms`);
    } finally {
      await a.close();
      await own.close();
    }
  });
});
