/**
 * The fault suite's cluster: three regions on loopback, as `npm run cluster` runs them — a NATS
 * supercluster, a Redis per region, one Cassandra node holding every region's keyspace, and one
 * gateway process per region from a generated regions.yaml (compiled: `node dist/main.js`).
 * Every service is started through the test helpers (which SIGKILL their children if this
 * process dies) and each can be broken and healed on the same port, so clients find it where
 * they expect it.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { type CassandraHandle, startCassandra } from '../../test/helpers/cassandra.ts';
import { eventually } from '../../test/helpers/eventually.ts';
import { TEST_SECRET } from '../../test/helpers/gateway.ts';
import { type GatewayProcess, startGatewayProcess } from '../../test/helpers/gateway-process.ts';
import { type NatsSupercluster, startNatsSupercluster } from '../../test/helpers/nats.ts';
import { freePorts } from '../../test/helpers/ports.ts';
import { type RedisHandle, startRedis } from '../../test/helpers/redis.ts';
import { ensureBuilt } from '../ensure-built.mjs';

export const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const;
export type Region = (typeof REGIONS)[number];

/**
 * How long a SIGTERMed gateway may drain before it is SIGKILLed. A gateway's stop is bounded by
 * itself (`stopBoundMs`: 25 s with the default limits, services down or not); cleanup here does
 * not wait that long.
 */
const GATEWAY_STOP_GRACE_MS = 10_000;

export interface Topology {
  /** Raw WebSocket URL of each region's gateway. */
  urls: Record<Region, string>;
  /** Each region's NATS (its cluster of the supercluster). */
  natsUrls: Record<Region, string>;
  /** Pids of everything running now, for the report and for cleanup by pid. */
  pids(): Record<string, number>;
  killGateway(region: Region): Promise<void>;
  startGateway(region: Region): Promise<void>;
  signalGateway(region: Region, signal: 'SIGSTOP' | 'SIGCONT'): void;
  killRedis(region: Region): Promise<void>;
  startRedis(region: Region): Promise<void>;
  stopCassandra(): Promise<void>;
  startCassandra(): Promise<void>;
  stopNats(region: Region): Promise<void>;
  startNats(region: Region): Promise<void>;
  /** Copies the gateways' and Cassandra's logs into `dest` (they live in a temp dir close() removes). */
  copyLogs(dest: string): Promise<void>;
  /** Resolves once every gateway answers /readyz with 200. */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface TopologyOptions {
  /** Users pinned to a home region (directory.pins): pins are read once, at gateway start. */
  pins: Record<string, Region>;
  log: (line: string) => void;
}

export async function startTopology(opts: TopologyOptions): Promise<Topology> {
  // The gateways run compiled, as production (test/helpers/gateway-process.ts): build now if
  // dist/ is stale, before any service starts, not between them.
  ensureBuilt();
  // Not registered with removeOnExit: its synchronous rm on Ctrl-C races the Cassandra JVM still
  // writing here as it dies, and can throw. close() removes it once every process has exited.
  const dir = await mkdtemp(join(tmpdir(), 'chat-faults-'));
  const tag = dir
    .slice(-6)
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase();
  const cassandraDir = join(dir, 'cassandra');
  const [cqlPort, storagePort, ...gatewayPorts] = (await freePorts(2 + REGIONS.length)) as number[];
  const gwPort = Object.fromEntries(REGIONS.map((r, i) => [r, gatewayPorts[i]!])) as Record<Region, number>;

  let nats: NatsSupercluster | undefined;
  const redis = new Map<Region, RedisHandle>();
  const redisPort = new Map<Region, number>();
  let cassandra: CassandraHandle | undefined;
  const gateways = new Map<Region, GatewayProcess>();
  const frozen = new Set<Region>();
  const configFile = join(dir, 'regions.yaml');

  // The same node on the same data dir and ports each time, so a restart is a restart, not a new cluster.
  const bootCassandra = async () => {
    cassandra = await startCassandra({ dataDir: cassandraDir, nativePort: cqlPort, storagePort });
  };

  const startRegionGateway = async (region: Region) => {
    const gwDir = join(dir, region);
    await mkdir(gwDir, { recursive: true });
    const gw = await startGatewayProcess({
      configFile,
      region,
      port: gwPort[region],
      workerId: 0,
      dir: gwDir,
    });
    gateways.set(region, gw);
  };

  const stopGateway = async (region: Region) => {
    const gw = gateways.get(region);
    if (!gw) return;
    gateways.delete(region);
    // A stopped process never handles SIGTERM: wake it first.
    if (frozen.delete(region)) process.kill(gw.pid, 'SIGCONT');
    const exited = gw.kill('SIGTERM');
    const inTime = await Promise.race([
      exited.then(() => true),
      sleep(GATEWAY_STOP_GRACE_MS).then(() => false),
    ]);
    if (!inTime) {
      opts.log(`gateway ${region} (pid ${gw.pid}) still draining after ${GATEWAY_STOP_GRACE_MS} ms: SIGKILL`);
      await gw.kill('SIGKILL');
    }
  };

  const close = async () => {
    await Promise.allSettled(REGIONS.map(stopGateway));
    await Promise.allSettled([
      nats?.close(),
      ...[...redis.values()].map((r) => r.close()),
      cassandra?.close(),
    ]);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    opts.log('starting NATS supercluster, 3 Redis and Cassandra…');
    const started = await Promise.all([
      startNatsSupercluster([...REGIONS]),
      Promise.all(REGIONS.map((r) => startRedis().then((h) => [r, h] as const))),
      bootCassandra(),
    ]);
    nats = started[0];
    for (const [r, h] of started[1]) {
      redis.set(r, h);
      redisPort.set(r, h.port);
    }
    await writeFile(
      configFile,
      stringify({
        regions: REGIONS.map((name, i) => ({
          name,
          id: i + 1,
          gateway: { host: '127.0.0.1', port: gwPort[name] },
          cassandra: {
            contactPoints: ['127.0.0.1'],
            port: cqlPort,
            localDataCenter: cassandra!.localDataCenter,
            keyspace: `chat_faults_${name.replace('-', '_')}_${tag}`,
            replicationFactor: 1,
          },
          redis: { url: redis.get(name)!.url },
          nats: { servers: [nats!.urls[name]!] },
        })),
        auth: { secret: TEST_SECRET },
        directory: { pins: opts.pins },
      }),
    );
    opts.log('starting one gateway per region…');
    // One at a time: three gateways creating their keyspaces at once overload a busy node.
    for (const r of REGIONS) await startRegionGateway(r);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    urls: Object.fromEntries(REGIONS.map((r) => [r, `ws://127.0.0.1:${gwPort[r]}/ws`])) as Record<
      Region,
      string
    >,
    natsUrls: Object.fromEntries(REGIONS.map((r) => [r, nats!.urls[r]!])) as Record<Region, string>,
    pids() {
      const out: Record<string, number> = {};
      for (const [r, g] of gateways) out[`gateway ${r}`] = g.pid;
      for (const [r, h] of redis) out[`redis ${r}`] = h.pid;
      if (cassandra) out.cassandra = cassandra.pid;
      return out;
    },
    async killGateway(region) {
      const gw = gateways.get(region);
      gateways.delete(region);
      await gw?.kill('SIGKILL');
    },
    startGateway: startRegionGateway,
    signalGateway(region, signal) {
      const gw = gateways.get(region);
      if (!gw) throw new Error(`no gateway running in ${region}`);
      process.kill(gw.pid, signal);
      if (signal === 'SIGSTOP') frozen.add(region);
      else frozen.delete(region);
    },
    async killRedis(region) {
      const h = redis.get(region);
      if (!h) return;
      redis.delete(region);
      // A crash, not a shutdown: no chance to answer in-flight commands.
      process.kill(h.pid, 'SIGKILL');
      await h.close();
    },
    async startRedis(region) {
      redis.set(region, await startRedis({ port: redisPort.get(region)! }));
    },
    async stopCassandra() {
      const c = cassandra;
      cassandra = undefined;
      // dataDir was passed in, so close() stops the JVM and keeps the data.
      await c?.close();
    },
    startCassandra: bootCassandra,
    stopNats: (region) => nats!.stopRegion(region),
    startNats: (region) => nats!.startRegion(region),
    async copyLogs(dest) {
      await mkdir(dest, { recursive: true });
      const files: [string, string][] = [
        ...REGIONS.map((r): [string, string] => [join(dir, r, 'gateway-0.log'), `gateway-${r}.log`]),
        [join(cassandraDir, 'logs', 'system.log'), 'cassandra-system.log'],
      ];
      await Promise.allSettled(files.map(([from, to]) => copyFile(from, join(dest, to))));
    },
    async ready(timeoutMs = 60_000) {
      await eventually(
        async () => {
          for (const r of REGIONS) {
            const gw = gateways.get(r);
            if (!gw) throw new Error(`gateway ${r} is not running`);
            const res = await fetch(`${gw.httpUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
            if (res.status !== 200) throw new Error(`gateway ${r} readyz ${res.status}`);
          }
        },
        { timeoutMs, intervalMs: 250 },
      );
    },
    close,
  };
}
