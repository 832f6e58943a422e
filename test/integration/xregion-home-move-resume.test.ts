/**
 * A home move whose driving gateway stops mid-move, on real services (two regions: Cassandra
 * keyspaces, Redis, a NATS supercluster), while SDK clients in both regions keep sending to a
 * group: the move is requested through a second us-east gateway (worker 1), which is stopped once
 * the move is under way; nobody asks again, and us-east's worker 0 takes the move over once its
 * record has been quiet for `resumeAfterMs`. Proven: the move ends `done` with a clean report,
 * no send refused, and the moved offline user's queue is in the new home alone with every message
 * sent since she left, once each.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { startGateway } from '../../src/app.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import type { HomeMove } from '../../src/storage/home-moves.ts';
import { silentLogger } from '../../src/util/log.ts';
import { API_KEY, api } from '../api.scenarios.ts';
import { onCleanup, sdkClient, sdkUser } from '../helpers/sdk-clients.ts';
import { startTwoRegions, type TwoRegion, type TwoRegions } from '../helpers/two-regions.ts';

const alice = sdkUser('alice');
const bob = sdkUser('bob');
const erin = sdkUser('erin');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

// Short enough for a test, long enough that a live move is never taken for a stalled one:
// resumeAfterMs must exceed replyTimeoutMs + max(graceMs, settleMs) + settleMs + roundDelayMs.
// settleMs and roundDelayMs well above the replication lag of a loaded machine: an entry the old
// home has not applied yet must not look like one only the new home holds (docs/operations.md).
const MOVES = {
  refreshMs: 200,
  settleMs: 1500,
  graceMs: 1000,
  roundDelayMs: 500,
  verifyRounds: 30,
  replyTimeoutMs: 3000,
  resumeAfterMs: 8000,
};

describe('a home move whose driving gateway stops is resumed by the region (Cassandra + Redis + NATS)', () => {
  let env: TwoRegions;
  let driver: Gateway;
  const local = (region: TwoRegion) => env.gateways.get(region)!.deps.replication!.local;
  const queueOf = async (region: TwoRegion, user: string) =>
    (await local(region).listOffline(user, 100_000)).map((e) => e.messageId.toString());
  const moveIn = async (region: TwoRegion): Promise<HomeMove | null> => local(region).homeMoves.get(erin);

  before(async () => {
    const pins = { [alice]: 'us-east', [bob]: 'eu-west', [erin]: 'us-east' } as const;
    env = await startTwoRegions({
      keyspacePrefix: 'home_resume',
      pins,
      config: { api: { keys: { backend: API_KEY } }, directory: { pins, moves: MOVES } },
    });
    onCleanup(() => env.close());
    // A second gateway of us-east: it takes the request and drives the move (worker 0 resumes).
    const us = env.gateways.get('us-east')!;
    driver = await startGateway({
      config: us.deps.config,
      region: us.deps.region,
      workerId: 1,
      port: 0,
      log: silentLogger,
    });
    onCleanup(() => driver.stop());
  });

  it('the move ends done, clean, with every message queued once at the new home', async () => {
    const a = sdkClient(env.gateways.get('us-east')!.url, alice);
    const b = sdkClient(env.gateways.get('eu-west')!.url, bob);
    await Promise.all([a.connect(), b.connect()]);
    const group = (await a.createGroup('resume', [bob, erin])).id;
    // Bob sends in eu-west: the group must have reached it first.
    await eventually(
      'the group in eu-west',
      async () => (await local('eu-west').getConversation(group)) !== null,
    );
    await eventually('erin offline in both regions', async () => {
      const [pa, pb] = [await a.presence([erin]), await b.presence([erin])];
      return pa[0]?.status === 'offline' && pb[0]?.status === 'offline';
    });

    const acked: string[] = [];
    const refused: unknown[] = [];
    let sending = true;
    onCleanup(async () => {
      sending = false;
    });
    const senders = [a, b].map(async (c, k) => {
      let i = 0;
      while (sending) {
        try {
          acked.push((await c.send(group, `${k} ${i++}`)).messageId);
        } catch (err) {
          refused.push(err);
        }
        await sleep(60);
      }
    });
    await eventually('erin has a queue', async () => (await queueOf('us-east', erin)).length > 10, 30_000);

    const started = await api(driver.httpUrl, 'POST', '/v1/home-moves', { userIds: [erin], to: 'eu-west' });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    // Under way (the new home receives copies), then its driver goes away mid-move.
    await eventually(
      'the move under way',
      async () => {
        const phase = (await moveIn('us-east'))?.phase;
        if (phase === 'done' || phase === 'failed')
          throw new Error(`the move ended (${phase}) before its driver stopped`);
        return phase !== undefined && phase !== 'dual';
      },
      60_000,
    );
    await driver.stop();
    const stalled = (await moveIn('us-east'))!;
    assert.ok(stalled.phase !== 'done' && stalled.phase !== 'failed', JSON.stringify(stalled));

    await eventually(
      'the move resumed and done',
      async () => {
        const m = await moveIn('us-east');
        if (m?.phase === 'failed') throw new Error(`move failed: ${JSON.stringify(m)}`);
        return m?.phase === 'done';
      },
      90_000,
    );
    await sleep(1000);
    sending = false;
    await Promise.all(senders);

    const done = (await moveIn('us-east'))!;
    assert.equal(done.moveId, stalled.moveId, 'the same move, resumed');
    assert.ok(
      done.updatedAt - stalled.updatedAt >= MOVES.resumeAfterMs,
      'resumed only after its record was quiet for resumeAfterMs',
    );
    assert.deepEqual(done.report?.differences, [], JSON.stringify(done.report));
    assert.equal(done.report?.clean, true);
    assert.deepEqual(refused, [], 'no request refused');
    for (const gw of env.gateways.values()) {
      await eventually(
        'directory refreshed',
        async () => gw.deps.replication!.directory.homeOf(erin) === 'eu-west',
      );
    }
    // Her queue: gone from us-east, in eu-west once each, every message sent since she left.
    await eventually(
      'replication quiet',
      async () => (await queueOf('eu-west', erin)).length === acked.length,
    );
    assert.deepEqual(await queueOf('us-east', erin), []);
    const queue = await queueOf('eu-west', erin);
    assert.equal(new Set(queue).size, queue.length, 'no entry twice');
    assert.deepEqual([...queue].sort(), [...acked].sort());
  });
});
