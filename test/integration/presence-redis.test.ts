import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createPresence, RedisPresence } from '../../src/presence/index.ts';
import type { GatewayLost, PresenceInfo, PresenceStatus } from '../../src/presence/types.ts';
import { eventually } from '../helpers/eventually.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';
import { presenceContract } from '../presence.contract.ts';

let redis: RedisHandle;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.close();
});

/** A key prefix no other test uses, so tests sharing the server stay independent. */
const freshPrefix = () => `t-${randomBytes(4).toString('hex')}:`;

presenceContract(
  'redis',
  ({ ttlMs }) => new RedisPresence({ url: redis.url, ttlMs, keyPrefix: freshPrefix() }),
);
presenceContract('redis via createPresence', ({ ttlMs }) =>
  createPresence({ kind: 'redis', url: redis.url, ttlMs, keyPrefix: freshPrefix() }),
);

const TTL_MS = 1500;

describe('RedisPresence across gateways', () => {
  const open = new Set<RedisPresence>();
  after(async () => {
    await Promise.all([...open].map((p) => p.close()));
  });

  async function gateway(keyPrefix: string, ttlMs = TTL_MS): Promise<RedisPresence> {
    const p = new RedisPresence({ url: redis.url, ttlMs, keyPrefix });
    await p.start();
    open.add(p);
    return p;
  }

  async function crash(p: RedisPresence): Promise<void> {
    // No markOffline, no more heartbeats: what a killed process leaves behind.
    open.delete(p);
    await p.close();
  }

  function record(p: RedisPresence) {
    const events: PresenceInfo[] = [];
    p.subscribe((e) => events.push(e));
    return (userId: string): PresenceStatus[] =>
      events.filter((e) => e.userId === userId).map((e) => e.status);
  }

  const status = async (p: RedisPresence, userId: string) =>
    (await p.getPresence([userId])).get(userId)?.status;
  const beat = (p: RedisPresence, gatewayId: string) =>
    setInterval(() => {
      p.heartbeat(gatewayId).catch(() => undefined);
    }, TTL_MS / 5);

  it("sees another gateway's users and its change events", async () => {
    const prefix = freshPrefix();
    const a = await gateway(prefix);
    const b = await gateway(prefix);
    const seenByB = record(b);
    await a.markOnline('alice', { connectionId: 'a1', gatewayId: 'gw-a', device: 'ios' });
    assert.equal(await status(b, 'alice'), 'online');
    await eventually(() => assert.deepEqual(seenByB('alice'), ['online']), {
      timeoutMs: 3000,
      intervalMs: 20,
    });
    // A different connection of the same user, on b, can be taken offline by b.
    await b.markOnline('alice', { connectionId: 'b1', gatewayId: 'gw-b', device: 'web' });
    assert.deepEqual((await a.getPresence(['alice'])).get('alice')?.gateways, ['gw-a', 'gw-b']);
  });

  it('announces a crashed gateway offline exactly once, however many gateways sweep', async () => {
    const prefix = freshPrefix();
    const doomed = await gateway(prefix);
    const b = await gateway(prefix);
    const c = await gateway(prefix);
    const seenByB = record(b);
    const seenByC = record(c);
    const users = Array.from({ length: 30 }, (_, i) => `crash-${i}`);
    for (const u of users)
      await doomed.markOnline(u, { connectionId: `${u}-c`, gatewayId: 'gw-doomed', device: 'web' });
    await b.markOnline('survivor', { connectionId: 's1', gatewayId: 'gw-b', device: 'web' });
    const timers = [beat(b, 'gw-b'), beat(c, 'gw-c')];
    try {
      await eventually(() => assert.deepEqual(seenByB('crash-0'), ['online']), {
        timeoutMs: 3000,
        intervalMs: 20,
      });
      const crashedAt = Date.now();
      await crash(doomed);
      await eventually(
        () => {
          for (const u of users) {
            assert.deepEqual(seenByB(u), ['online', 'offline'], u);
            assert.deepEqual(seenByC(u), ['online', 'offline'], u);
          }
        },
        { timeoutMs: TTL_MS * 4, intervalMs: 50 },
      );
      assert.ok(Date.now() - crashedAt >= TTL_MS - 100);
      assert.deepEqual(await b.onlineUsers([...users, 'survivor']), new Set(['survivor']));
      // Several more sweeps by both: still one offline event each.
      await new Promise((r) => setTimeout(r, TTL_MS));
      assert.deepEqual(seenByB('crash-7'), ['online', 'offline']);
      assert.deepEqual(seenByC('crash-7'), ['online', 'offline']);
      assert.deepEqual(seenByB('survivor'), ['online']);
    } finally {
      for (const t of timers) clearInterval(t);
    }
  });

  it('sweeps a large crashed gateway in bounded batches', async () => {
    const prefix = freshPrefix();
    const doomed = await gateway(prefix);
    const sweeper = new RedisPresence({ url: redis.url, ttlMs: TTL_MS, keyPrefix: prefix, sweepBatch: 7 });
    await sweeper.start();
    open.add(sweeper);
    const users = Array.from({ length: 50 }, (_, i) => `big-${i}`);
    await Promise.all(
      users.map((u) => doomed.markOnline(u, { connectionId: `${u}-c`, gatewayId: 'gw-big', device: 'web' })),
    );
    await crash(doomed);
    await eventually(async () => assert.deepEqual(await sweeper.onlineUsers(users), new Set()), {
      timeoutMs: TTL_MS * 3,
      intervalMs: 50,
    });
    // Every connection removed, in one sweep() call or several background ones.
    await eventually(async () => assert.equal(await sweeper.sweep(), 0), { timeoutMs: 3000, intervalMs: 50 });
    const raw = new Redis(redis.url);
    try {
      assert.equal(await raw.zcard(`${prefix}gateways`), 0);
      assert.equal((await raw.keys(`${prefix}c:*`)).length, 0);
      assert.equal((await raw.keys(`${prefix}gu:*`)).length, 0);
    } finally {
      raw.disconnect();
    }
  });

  it('a gateway restarted under the same id does not revive its old connections', async () => {
    const prefix = freshPrefix();
    const first = await gateway(prefix);
    const observer = await gateway(prefix);
    const seen = record(observer);
    await first.markOnline('bob', { connectionId: 'old-conn', gatewayId: 'gw-x', device: 'web' });
    await crash(first);
    const second = await gateway(prefix);
    const timer = beat(second, 'gw-x');
    try {
      await second.heartbeat('gw-x');
      // Immediately gone for lookups: the id is alive again, but under a new incarnation.
      assert.equal(await status(observer, 'bob'), 'offline');
      await eventually(() => assert.deepEqual(seen('bob'), ['online', 'offline']), {
        timeoutMs: TTL_MS * 4,
        intervalMs: 50,
      });
      await second.markOnline('bob', { connectionId: 'new-conn', gatewayId: 'gw-x', device: 'web' });
      const info = (await observer.getPresence(['bob'])).get('bob');
      assert.equal(info?.status, 'online');
      assert.equal(info?.devices, 1);
    } finally {
      clearInterval(timer);
    }
  });

  it('a gateway whose heartbeats lapsed re-registers its connections on the next heartbeat', async () => {
    const prefix = freshPrefix();
    const stalled = await gateway(prefix);
    const seen = record(stalled);
    await stalled.markOnline('carol', { connectionId: 'c1', gatewayId: 'gw-s', device: 'web' });
    await stalled.setAway('carol', 'c1', true);
    // No heartbeat for longer than the TTL (an event-loop stall): swept and announced offline.
    await eventually(() => assert.deepEqual(seen('carol'), ['online', 'away', 'offline']), {
      timeoutMs: TTL_MS * 4,
      intervalMs: 50,
    });
    await stalled.heartbeat('gw-s');
    const info = (await stalled.getPresence(['carol'])).get('carol');
    assert.equal(info?.status, 'away', 'the away flag survives re-registration');
    assert.equal(info?.devices, 1);
    await eventually(() => assert.deepEqual(seen('carol'), ['online', 'away', 'offline', 'away']), {
      timeoutMs: 3000,
      intervalMs: 20,
    });
  });

  it('a connection registered after its gateway lapsed brings the others back and says so', async () => {
    // Redis restarted empty (or the liveness key expired) and a new connection arrives before
    // the next heartbeat: its registration revives the gateway, so the heartbeat would not see
    // the lapse; the connections registered before must come back at once, and the gateway is
    // told (it resyncs them: nothing was routed to them meanwhile).
    const prefix = freshPrefix();
    const p = await gateway(prefix, 60_000);
    const lost: GatewayLost[] = [];
    p.subscribeGatewayLost((e) => lost.push(e));
    const before = Date.now();
    await p.markOnline('erin', { connectionId: 'e1', gatewayId: 'gw-r', device: 'web' });
    await p.markOnline('frank', { connectionId: 'f1', gatewayId: 'gw-r', device: 'web' });
    const raw = new Redis(redis.url);
    try {
      for (const key of await raw.keys(`${prefix}*`)) await raw.del(key);
    } finally {
      raw.disconnect();
    }
    assert.deepEqual([...(await p.locate(['erin', 'frank'], 'other')).elsewhere], []);
    await p.markOnline('gina', { connectionId: 'g1', gatewayId: 'gw-r', device: 'web' });
    const where = await p.locate(['erin', 'frank', 'gina'], 'other');
    assert.deepEqual(where.gateways.get('gw-r'), ['erin', 'frank', 'gina']);
    assert.equal(lost.length, 1);
    assert.equal(lost[0]!.gatewayId, 'gw-r');
    assert.ok(lost[0]!.lastSeenAt >= before && lost[0]!.lastSeenAt <= Date.now());
  });

  it('sends the lookups of one event-loop turn in one round trip, each user once', async () => {
    const p = await gateway(freshPrefix(), 60_000);
    await p.markOnline('hal', { connectionId: 'h1', gatewayId: 'gw-1', device: 'web' });
    const batches = p.locates.batches;
    const looked = p.locates.usersLookedUp;
    const answers = await Promise.all([
      p.locate(['hal', 'ida'], 'gw-0'),
      p.locate(['hal'], 'gw-0'),
      p.locate(['ida', 'jon'], 'gw-0'),
    ]);
    assert.equal(p.locates.batches - batches, 1);
    assert.equal(p.locates.usersLookedUp - looked, 3);
    assert.deepEqual(
      answers.map((w) => [...w.elsewhere]),
      [['hal'], ['hal'], []],
    );
  });

  it('keeps lastSeen across instances and restarts of the client', async () => {
    const prefix = freshPrefix();
    const a = await gateway(prefix);
    await a.markOnline('dave', { connectionId: 'd1', gatewayId: 'gw-a', device: 'web' });
    await a.markOffline('dave', 'd1');
    const lastSeen = (await a.getPresence(['dave'])).get('dave')?.lastSeen;
    assert.ok(typeof lastSeen === 'number');
    await crash(a);
    const b = await gateway(prefix);
    assert.equal((await b.getPresence(['dave'])).get('dave')?.lastSeen, lastSeen);
  });

  it('recovers when Redis forgets its scripts', async () => {
    const prefix = freshPrefix();
    const a = await gateway(prefix);
    const raw = new Redis(redis.url);
    try {
      await raw.script('FLUSH');
      await a.markOnline('erin', { connectionId: 'e1', gatewayId: 'gw-a', device: 'web' });
      await raw.script('FLUSH');
      assert.equal(await status(a, 'erin'), 'online');
    } finally {
      raw.disconnect();
    }
  });
});
