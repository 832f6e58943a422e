/**
 * `xregion`: direct messages between users in two regions of a local NATS supercluster — one
 * gateway process per region, each with its own Cassandra keyspace, Redis server and NATS
 * server, the two NATS servers joined by gateways. Half of each pair lives (directory pin) and
 * connects in us-east, the other half in eu-west; they take turns sending. The sender's ack
 * waits for its region's store and JetStream outbox; the recipient's region applies the
 * replicated message from its inbox and delivers it (docs/architecture.md, "Several regions").
 *
 * Cross-region routing is being built while this benchmark is written. Before the ladder, a
 * probe sends a few DMs each way; if none arrives the scenario reports `{skipped: reason}` — a
 * missing feature is not a figure.
 */
import { startNatsSupercluster } from '../../test/helpers/nats.ts';
import { type RedisHandle, startRedis } from '../../test/helpers/redis.ts';
import { type BenchContext, type ResultRow, wireFor } from '../lib/context.ts';
import { LoadGen } from '../lib/loadgen.ts';
import { childPids } from '../lib/proc-stats.ts';
import { type RunningServer, startGatewayProcess, writeGatewayConfig } from '../lib/targets.ts';
import { climb, dmUnits } from './traffic.ts';

const REGIONS = ['us-east', 'eu-west'] as const;

export async function xregionScenario(ctx: BenchContext): Promise<ResultRow[]> {
  const before = new Set(childPids('nats-server'));
  const nats = await startNatsSupercluster([...REGIONS]);
  // The helper does not expose its servers' pids; they are our children that were not before.
  const superclusterPids = childPids('nats-server').filter((p) => !before.has(p));
  const redis: RedisHandle[] = [];
  const servers: RunningServer[] = [];
  let lg: LoadGen | undefined;
  const units = dmUnits('x', ctx.mode.xregion.pairs);
  try {
    for (const _ of REGIONS) redis.push(await startRedis());
    // `xa…` users live and connect in us-east, `xb…` users in eu-west.
    const pins: Record<string, string> = {};
    for (const u of units) {
      pins[u.members[0]!] = 'us-east';
      pins[u.members[1]!] = 'eu-west';
    }
    const configFile = writeGatewayConfig(
      ctx.logDir,
      REGIONS.map((name, i) => ({
        name,
        id: i + 1,
        cassandra: { ...ctx.cassandra, keyspace: `chat_bench_${name.replace('-', '_')}` },
        redisUrl: redis[i]!.url,
        natsUrl: nats.urls[name]!,
      })),
      pins,
    );
    for (const [i, region] of REGIONS.entries()) {
      servers.push(
        await startGatewayProcess({
          configFile,
          region,
          workerId: i,
          logDir: ctx.logDir,
          tag: `xregion-${region}`,
          ...(ctx.profileDir ? { cpuProfDir: ctx.profileDir } : {}),
          nodeFlags: ctx.gatewayNodeFlags,
        }),
      );
    }
    const [us, eu] = servers as [RunningServer, RunningServer];
    const connections = units.length * 2;
    lg = await LoadGen.start({
      ...wireFor('gateway', ctx.clientMsgIds),
      workers: ctx.mode.workers,
      host: us.host,
      port: us.port,
      altEndpoint: { port: eu.port, userPrefix: 'xb' },
      localAddresses: ctx.localAddresses,
      connectConcurrency: 50,
      units,
      bodyChars: ctx.mode.bodyChars,
      maxLifetimeMs: 60 * 60_000,
      logDir: ctx.logDir,
    });
    const c = await lg.connect();
    if (c.failed > 0) throw new Error(`${c.failed} of ${connections} connections failed: ${c.firstError}`);
    await lg.prepare();

    const probe = await lg.run(20, {
      warmupMs: 0,
      measureMs: 2000,
      drainMs: 5000,
      startAt: Date.now() + 200,
    });
    const expected = probe.sent;
    const arrived = expected - Math.max(0, probe.lostDeliveries);
    ctx.log(`xregion: probe ${arrived} of ${expected} DMs delivered across regions`);
    if (arrived === 0) {
      return [
        {
          scenario: 'xregion',
          target: 'gateway',
          skipped:
            `cross-region routing not available: 0 of ${expected} probe DMs between us-east and eu-west ` +
            `were delivered within 5 s (${probe.acked} were acked, i.e. stored in the sender's region)`,
        },
      ];
    }
    return await climb(ctx, {
      scenario: 'xregion',
      target: 'gateway',
      lg,
      servers,
      extraServicePids: { 'nats-supercluster': superclusterPids, 'redis-regions': redis.map((r) => r.pid) },
      // Both regions' gateways are the target; the shared Redis and NATS serve neither.
      serverServices: ['cassandra', 'nats-supercluster', 'redis-regions'],
      ladder: ctx.mode.xregion.ladder,
      connections,
      fanout: 1,
    });
  } finally {
    await lg?.close();
    for (const s of servers) await s.stop();
    await nats.close();
    for (const r of redis) await r.close();
  }
}
