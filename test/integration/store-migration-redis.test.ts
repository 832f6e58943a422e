/**
 * A region with Redis keeps its store-migration phase under one Redis key: every gateway's
 * watcher follows a change within its poll interval, keeps its phase while Redis is away, and the
 * command's rules apply there as with the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  canTransition,
  PhaseWatcher,
  phaseKey,
  RedisPhaseStore,
  setPhase,
} from '../../src/storage/migration/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';

describe('store migration phase in Redis', () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  it('is shared by every gateway of the region and survives Redis going away', async () => {
    const key = phaseKey(`r${process.pid}`);
    const operator = new RedisPhaseStore(redis.url, key);
    const watchers = [0, 1, 2].map(
      (_) => new PhaseWatcher(new RedisPhaseStore(redis.url, key), { pollMs: 50 }),
    );
    await Promise.all(watchers.map((w) => w.start()));
    assert.deepEqual(
      watchers.map((w) => w.phase),
      ['old', 'old', 'old'],
    );
    await setPhase(operator, 'dual-write');
    await setPhase(operator, 'compare');
    await eventually(() => assert.deepEqual(new Set(watchers.map((w) => w.phase)), new Set(['compare'])), {
      timeoutMs: 3000,
    });
    await assert.rejects(setPhase(operator, 'new-only'), /cannot go from compare to new-only/);
    assert.equal(canTransition('compare', 'old'), true);

    await redis.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      new Set(watchers.map((w) => w.phase)),
      new Set(['compare']),
      'a failed read keeps the phase',
    );
    redis = await startRedis({ port: redis.port });
    await setPhase(operator, 'old');
    await eventually(() => assert.deepEqual(new Set(watchers.map((w) => w.phase)), new Set(['old'])), {
      timeoutMs: 10_000,
    });
    await Promise.all([...watchers.map((w) => w.close()), operator.close()]);
  });
});
