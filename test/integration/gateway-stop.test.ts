/**
 * A gateway's stop is bounded (issue 11 (f)): a gateway process of a two-region deployment,
 * with clients on /ws and Socket.IO and a send in flight, loses its region's NATS server and its
 * Redis; SIGTERM then ends the process within `stopBoundMs(limits)`, and the log names the steps
 * that were cut short instead of waiting on reconnects that cannot succeed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { stopBoundMs } from '../../src/gateway/shutdown.ts';
import { TestClient } from '../helpers/client.ts';
import { TEST_SECRET, token } from '../helpers/gateway.ts';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.ts';
import { IoTestClient } from '../helpers/io-client.ts';
import { type NatsSupercluster, startNatsSupercluster } from '../helpers/nats.ts';
import { freePorts } from '../helpers/ports.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';

const LIMITS = { drainTimeoutMs: 1000, closeTimeoutMs: 1000 };
/** Starting node, exiting, and the helper noticing: not part of the gateway's own bound. */
const PROCESS_SLACK_MS = 1500;

describe('stopping a gateway whose NATS and Redis are down', () => {
  let dir: string;
  let nats: NatsSupercluster;
  let redis: RedisHandle | undefined;
  let gw: GatewayProcess;
  const clients: { close(): Promise<void> }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chat-stop-'));
    [nats, redis] = await Promise.all([startNatsSupercluster(['east', 'west']), startRedis()]);
    const configFile = join(dir, 'regions.yaml');
    const [port, westPort] = (await freePorts(2)) as [number, number];
    await writeFile(
      configFile,
      stringify({
        regions: [
          {
            name: 'east',
            id: 1,
            gateway: { host: '127.0.0.1', port: 0 },
            redis: { url: redis.url },
            nats: { servers: [nats.urls.east] },
            dataDir: join(dir, 'east'),
          },
          {
            name: 'west',
            id: 2,
            gateway: { host: '127.0.0.1', port: westPort },
            nats: { servers: [nats.urls.west] },
            dataDir: join(dir, 'west'),
          },
        ],
        auth: { secret: TEST_SECRET },
        limits: LIMITS,
      }),
    );
    gw = await startGatewayProcess({ configFile, region: 'east', port, workerId: 0, dir });
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.kill('SIGKILL');
    await nats?.close();
    await redis?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exits within drainTimeoutMs + 3 × closeTimeoutMs and logs what was cut short', async (t) => {
    const raw = await TestClient.connect(gw.url, await token('stop-alice'));
    clients.push(raw);
    await raw.waitFor((f) => f.op === 'synced');
    const sio = await IoTestClient.connect(gw.httpUrl, await token('stop-bob'));
    clients.push(sio);
    await sio.waitFor((f) => f.op === 'synced');
    await raw.call('openDirect', { userId: 'stop-bob' });

    await Promise.all([nats.stopRegion('east'), redis!.close()]);
    redis = undefined;
    // Waits on presence (Redis) and routing: still in flight when the stop begins.
    raw.sendRaw(
      JSON.stringify({ op: 'send', id: 's1', conversationId: 'dm:stop-alice:stop-bob', body: 'hi' }),
    );

    const t0 = Date.now();
    await gw.kill('SIGTERM');
    const tookMs = Date.now() - t0;
    const bound = stopBoundMs(LIMITS);
    const log = gw.logTail(400);
    const cut = log.match(/stop: \w+ cut short after \d+ ms/g) ?? [];
    t.diagnostic(`stopped in ${tookMs} ms (bound ${bound} ms); ${cut.join(', ') || 'nothing cut short'}`);
    assert.ok(tookMs < bound + PROCESS_SLACK_MS, `stopped in ${tookMs} ms, bound ${bound} ms\n${log}`);
    assert.match(log, /"msg":"stopped"/, 'stop() returned (not the backstop exit)');
    assert.match(log, /stop: \w+ cut short after 1000 ms/, 'a step waiting on a dead service is logged');
    assert.equal(gw.exitReason(), 'exited with 0');
  });
});
