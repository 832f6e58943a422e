/**
 * `npm run cluster`: the whole multi-region topology of regions.yaml on this machine — a NATS
 * supercluster (one JetStream server per region, gateways between them), a Redis per region,
 * Cassandra (one node serving every region's keyspace), and one gateway process per region,
 * compiled and started as production starts it (`node dist/main.js`; built first if stale).
 * Prints each region's URLs and the dashboard's (any gateway's dashboard shows every gateway of
 * every region); Ctrl-C (or --duration) stops everything it started.
 *
 *   npm run cluster [-- --config regions.yaml] [--duration 60]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../src/config/load.ts';
import { stopBoundMs } from '../src/gateway/shutdown.ts';
import { type CassandraHandle, startCassandra } from '../test/helpers/cassandra.ts';
import { startNatsSupercluster } from '../test/helpers/nats.ts';
import { type RedisHandle, startRedis } from '../test/helpers/redis.ts';
import { ensureBuilt } from './ensure-built.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { config: { type: 'string' }, duration: { type: 'string' } } });
const configFile = path.resolve(values.config ?? path.join(ROOT, 'regions.yaml'));
const config = loadConfigFile(configFile);
const state = path.join(ROOT, '.state', 'cluster');
/**
 * The dashboard's operator token, the same for every gateway: the file's, else CHAT_OPERATOR_TOKEN,
 * else one made for this run (printed below, like `npm start` does).
 */
const operatorToken =
  config.auth.operatorToken ?? process.env.CHAT_OPERATOR_TOKEN ?? randomBytes(18).toString('base64url');
/** How long a gateway gets after SIGTERM: its own stop bound, plus time to exit. */
const stopWaitMs = stopBoundMs(config.limits) + 5000;

/** Services, stopped one by one in reverse order once every gateway has exited. */
const stops: (() => Promise<void>)[] = [];
/** Gateways, stopped side by side first: each stop is bounded on its own (`stopBoundMs`). */
const gatewayStops: (() => Promise<void>)[] = [];
let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('\nstopping the cluster…');
    await Promise.all(gatewayStops.map((stop) => stop().catch((err) => console.error(String(err)))));
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(String(err)));
    console.log('stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

function portOf(url: string): number {
  return Number(new URL(url).port);
}

async function main(): Promise<void> {
  await mkdir(state, { recursive: true });
  const install = spawnSync('bash', [path.join(ROOT, 'scripts/services.sh'), 'install'], {
    stdio: 'inherit',
  });
  if (install.status !== 0) throw new Error('scripts/services.sh install failed');
  // Before any service starts, so a build that fails stops here with nothing to clean up.
  ensureBuilt(ROOT);

  const regions = config.regions.map((r) => r.name);
  const natsPorts: Record<string, [number, number, number, number]> = {};
  for (const r of config.regions) {
    if (!r.nats?.clusterPort || !r.nats.gatewayPort) {
      throw new Error(`regions.${r.name}.nats needs clusterPort and gatewayPort for npm run cluster`);
    }
    const port = portOf(r.nats.servers[0]!);
    natsPorts[r.name] = [port, port + 4000, r.nats.clusterPort, r.nats.gatewayPort];
  }

  // One Cassandra node per distinct CQL port (regions.yaml puts every keyspace on one).
  const cassandraPorts = [...new Set(config.regions.flatMap((r) => (r.cassandra ? [r.cassandra.port] : [])))];
  const redisPorts = [...new Set(config.regions.flatMap((r) => (r.redis?.url ? [portOf(r.redis.url)] : [])))];
  console.log(
    `starting NATS supercluster (${regions.join(', ')}), ${redisPorts.length} Redis, ${cassandraPorts.length} Cassandra…`,
  );
  const [nats, redis, cassandra] = await Promise.all([
    startNatsSupercluster(regions, { ports: natsPorts }),
    Promise.all(redisPorts.map((port) => startRedis({ port }))),
    Promise.all(
      cassandraPorts.map((nativePort, i) => {
        const dc = config.regions.find((r) => r.cassandra?.port === nativePort)!.cassandra!.localDataCenter;
        return startCassandra({
          dataDir: path.join(state, `cassandra-${nativePort}`),
          nativePort,
          storagePort: 17100 + i,
          datacenter: dc,
        });
      }),
    ),
  ]);
  stops.push(() => nats.close());
  for (const r of redis as RedisHandle[]) stops.push(() => r.close());
  for (const c of cassandra as CassandraHandle[]) stops.push(() => c.close());

  const gateways: { region: string; child: ChildProcess; url: string }[] = [];
  await Promise.all(
    config.regions.map(
      (r) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, [path.join(ROOT, 'dist/main.js')], {
            cwd: ROOT,
            env: {
              ...process.env,
              CHAT_CONFIG: configFile,
              CHAT_REGION: r.name,
              CHAT_WORKER_ID: '0',
              CHAT_OPERATOR_TOKEN: operatorToken,
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          const onData = (d: Buffer) => {
            out += String(d);
            for (const line of String(d).split('\n')) if (line.trim()) console.log(`[${r.name}] ${line}`);
            if (out.includes('listening')) resolve();
          };
          child.stdout!.on('data', onData);
          child.stderr!.on('data', onData);
          child.once('exit', (code) => {
            if (!stopping) reject(new Error(`gateway ${r.name} exited with ${code}`));
          });
          gateways.push({ region: r.name, child, url: `ws://${r.gateway.host}:${r.gateway.port}/ws` });
          gatewayStops.push(
            () =>
              new Promise((done) => {
                if (child.exitCode !== null) return done();
                // A gateway exits by itself within its bound; past it (plus slack) it is killed.
                const kill = setTimeout(() => {
                  console.error(`[${r.name}] still running ${stopWaitMs} ms after SIGTERM; SIGKILL`);
                  child.kill('SIGKILL');
                }, stopWaitMs);
                child.once('exit', () => {
                  clearTimeout(kill);
                  done();
                });
                child.kill('SIGTERM');
              }),
          );
        }),
    ),
  );
  console.log('\ncluster up:');
  for (const r of config.regions) {
    console.log(
      `  ${r.name.padEnd(10)} ws://${r.gateway.host}:${r.gateway.port}/ws   http://${r.gateway.host}:${r.gateway.port}/readyz   nats ${nats.urls[r.name]}`,
    );
  }
  // Every gateway's dashboard shows the whole deployment; the first region's is as good as any.
  const first = config.regions[0]!;
  console.log(
    `\n  dashboard (every region): http://${first.gateway.host}:${first.gateway.port}/dashboard#token=${operatorToken}`,
  );
  console.log(
    `  the same as JSON:         curl -H 'Authorization: Bearer ${operatorToken}' http://${first.gateway.host}:${first.gateway.port}/dashboard/fleet`,
  );
  if (config.auth.devTokens) {
    console.log(`\n  tokens: curl 'http://${first.gateway.host}:${first.gateway.port}/dev/token?user=alice'`);
  }
  console.log('\nCtrl-C stops everything.');
  if (values.duration) setTimeout(() => void stopAll(0), Number(values.duration) * 1000);
}

main().catch((err) => {
  console.error(err);
  void stopAll(1);
});
