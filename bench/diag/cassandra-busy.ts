/**
 * What the bench's Cassandra spends its CPU on (docs/benchmarks.md, "Diagnostics"): starts the
 * same Cassandra, Redis and NATS as `bench/run.ts`, optionally runs the storage probe as the
 * bench does, then measures Cassandra by thread group (bench/lib/thread-cpu.ts) and by stage
 * (`nodetool tpstats` task counts over JMX) in phases:
 *
 *   1. `idle`: nobody connected (what the probe and the JVM leave running);
 *   2. `connected`: a gateway with the dm scenario's connections, no traffic;
 *   3. `dm@<rate>`: the dm scenario at each rate of --rates, --seconds each.
 *
 *   npx tsx bench/diag/cassandra-busy.ts [--rates 250,1000] [--seconds 20] [--no-probe] [--probe-seconds 6]
 *     [--jvm-flag=-XX:TieredStopAtLevel=1 …] [--jfr]
 *
 * Each phase is logged to stderr as it ends; the JSON summary (phases, `nodetool tablestats` of
 * the gateway's keyspace, `compactionhistory`) goes to stdout. --jfr also records a JFR profile
 * of the whole run (`jcmd <pid> JFR.start`, settings=profile) into the log directory, to read
 * with `jfr print --events jdk.ExecutionSample`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CASSANDRA_LIB,
  JVM17_MODULE_FLAGS,
  javaBinary,
  startCassandra,
} from '../../test/helpers/cassandra.ts';
import { startNats } from '../../test/helpers/nats.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { type BenchContext, sleep, startTarget, wireFor } from '../lib/context.ts';
import { LoadGen } from '../lib/loadgen.ts';
import { MODES } from '../lib/modes.ts';
import { cpuSeconds, fdLimits } from '../lib/proc-stats.ts';
import { readThreads, SHARED_POOL_GROUP, threadGroup, threadGroupDelta } from '../lib/thread-cpu.ts';
import { storageProbe } from '../scenarios/storage-probe.ts';
import { dmUnits } from '../scenarios/traffic.ts';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '250,1000' },
    seconds: { type: 'string', default: '20' },
    'idle-seconds': { type: 'string', default: '15' },
    'no-probe': { type: 'boolean', default: false },
    /** Seconds per probe phase (the quick bench's 6 by default): a longer probe warms the JIT more. */
    'probe-seconds': { type: 'string' },
    'jvm-flag': { type: 'string', multiple: true, default: [] },
    jfr: { type: 'boolean', default: false },
  },
});

const started = Date.now();
const log = (msg: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

/** `nodetool -p <jmx> <args>` from the jars the node runs on (no launcher script ships with them). */
function nodetool(jmxPort: number, args: string[]): string {
  return execFileSync(
    javaBinary(),
    [
      ...JVM17_MODULE_FLAGS,
      '-XX:TieredStopAtLevel=1',
      '-Xss512k',
      '-cp',
      `${CASSANDRA_LIB}/*`,
      'org.apache.cassandra.tools.NodeTool',
      '-h',
      '127.0.0.1',
      '-p',
      String(jmxPort),
      ...args,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
}

/** nodetool's JSON, after whatever its logger printed to stdout first. */
function parseJsonOutput(out: string): unknown {
  const start = out.search(/^\{/m);
  if (start < 0) throw new Error(`nodetool printed no JSON: ${out.slice(0, 500)}`);
  return JSON.parse(out.slice(start));
}

/** Completed tasks per thread pool (tpstats), for deltas per phase. */
function completedTasks(jmxPort: number): Record<string, number> {
  const json = parseJsonOutput(nodetool(jmxPort, ['tpstats', '-F', 'json'])) as {
    ThreadPools: Record<string, { CompletedTasks: number }>;
  };
  return Object.fromEntries(Object.entries(json.ThreadPools).map(([k, v]) => [k, Number(v.CompletedTasks)]));
}

/**
 * Context switches of the request threads (shared pool), voluntary (parked, waited) and not:
 * many more than requests served means workers park and wake between requests (spinning).
 */
function requestThreadSwitches(pid: number): { voluntary: number; involuntary: number } {
  let voluntary = 0;
  let involuntary = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      if (threadGroup(comm) !== SHARED_POOL_GROUP) continue;
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return { voluntary, involuntary };
}

function taskDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

async function main(): Promise<void> {
  const mode = MODES.quick;
  const rates = values.rates!.split(',').map(Number);
  const seconds = Number(values.seconds);
  const idleSeconds = Number(values['idle-seconds']);
  const logDir = mkdtempSync(join(tmpdir(), 'chat-cassandra-busy-'));
  const jmxPort = await freePort();
  const [cassandra, redis, nats] = await Promise.all([
    startCassandra({ jmxPort, jvmFlags: values['jvm-flag'] as string[] }),
    startRedis(),
    startNats(),
  ]);
  log(`Cassandra pid ${cassandra.pid}, JMX ${jmxPort}, dir ${cassandra.dir}; logs in ${logDir}`);
  const jfrFile = join(logDir, 'cassandra.jfr');
  if (values.jfr) {
    execFileSync('jcmd', [
      String(cassandra.pid),
      'JFR.start',
      'name=busy',
      'settings=profile',
      `filename=${jfrFile}`,
    ]);
  }
  const phases: Record<string, unknown>[] = [];
  const measure = async (name: string, extra: () => Promise<Record<string, unknown>>) => {
    const t0 = readThreads(cassandra.pid);
    const c0 = cpuSeconds(cassandra.pid);
    const k0 = completedTasks(jmxPort);
    const s0 = requestThreadSwitches(cassandra.pid);
    const w0 = Date.now();
    const more = await extra();
    const wallS = (Date.now() - w0) / 1000;
    const t1 = readThreads(cassandra.pid);
    const phase = {
      phase: name,
      wall_s: Math.round(wallS * 10) / 10,
      at_s: Math.round((w0 - started) / 100) / 10,
      cassandra_cores: Math.round(((cpuSeconds(cassandra.pid) - c0) / wallS) * 100) / 100,
      cassandra_cpu_by_thread_s: threadGroupDelta(t0, t1),
      cassandra_kernel_cpu_by_thread_s: threadGroupDelta(t0, t1, 0.05, true),
      completed_tasks: taskDelta(k0, completedTasks(jmxPort)),
      request_thread_switches: (() => {
        const s1 = requestThreadSwitches(cassandra.pid);
        return { voluntary: s1.voluntary - s0.voluntary, involuntary: s1.involuntary - s0.involuntary };
      })(),
      ...more,
    };
    phases.push(phase);
    log(JSON.stringify(phase));
  };

  try {
    if (!values['no-probe']) {
      await measure('storage probe', async () => {
        const p = await storageProbe(cassandra, {
          ...mode.storageProbe,
          ...(values['probe-seconds'] ? { seconds: Number(values['probe-seconds']) } : {}),
          log,
          redis: { url: redis.url, pid: redis.pid },
        });
        return { probe: p };
      });
    }
    await measure('idle', async () => {
      await sleep(idleSeconds * 1000);
      return {};
    });
    const ctx: BenchContext = {
      mode,
      logDir,
      profileDir: null,
      gatewayNodeFlags: [],
      cassandra: {
        contactPoints: cassandra.contactPoints,
        port: cassandra.port,
        localDataCenter: cassandra.localDataCenter,
      },
      redisUrl: redis.url,
      natsUrl: nats.url,
      servicePids: { cassandra: [cassandra.pid], redis: [redis.pid], nats: [nats.pid] },
      localAddresses: Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`),
      gatewayStorage: 'cassandra',
      clientMsgIds: true,
      fdHard: fdLimits().hard,
      log,
    };
    const server = await startTarget(ctx, 'gateway', 'cassandra-busy');
    const units = dmUnits('cb', mode.dm.pairs);
    const lg = await LoadGen.start({
      ...wireFor('gateway'),
      workers: mode.workers,
      host: server.host,
      port: server.port,
      localAddresses: ctx.localAddresses,
      connectConcurrency: 50,
      units,
      bodyChars: mode.bodyChars,
      maxLifetimeMs: 60 * 60_000,
      logDir,
    });
    try {
      await lg.connect();
      await lg.prepare();
      await measure('connected, no traffic', async () => {
        await sleep(idleSeconds * 1000);
        return {};
      });
      for (const rate of rates) {
        await measure(`dm@${rate}`, async () => {
          const gw0 = cpuSeconds(server.pid);
          const agg = await lg.run(rate, {
            warmupMs: 0,
            measureMs: seconds * 1000,
            drainMs: 2000,
            startAt: Date.now() + 100,
          });
          return {
            acked: agg.acked,
            acked_per_s: Math.round(agg.msgsPerS),
            p99_ms: Math.round(agg.delivery.percentile(99) / 100) / 10,
            gateway_cpu_s: Math.round((cpuSeconds(server.pid) - gw0) * 100) / 100,
          };
        });
        await measure(`after dm@${rate}`, async () => {
          await sleep(10_000);
          return {};
        });
      }
    } finally {
      await lg.close();
      await server.stop();
    }
    const tables = nodetool(jmxPort, ['tablestats', 'chat_bench', '-F', 'json']);
    const compactions = nodetool(jmxPort, ['compactionhistory']);
    if (values.jfr) {
      execFileSync('jcmd', [String(cassandra.pid), 'JFR.dump', 'name=busy', `filename=${jfrFile}`]);
      log(`JFR recording: ${jfrFile}`);
    }
    console.log(
      JSON.stringify(
        {
          jvm_flags: values['jvm-flag'],
          phases,
          tablestats: parseJsonOutput(tables),
          compactionhistory: compactions,
        },
        null,
        2,
      ),
    );
  } finally {
    await Promise.allSettled([cassandra.close(), redis.close(), nats.close()]);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
