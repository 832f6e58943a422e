/**
 * Load benchmarks: the gateway against what users would pick instead, in one run.
 *
 *   npm run bench                         quick mode (a few minutes)
 *   npm run bench:full                    full mode
 *   npx tsx bench/run.ts --only dm,room --targets gateway,bare-uws --profile
 *
 * Options:
 *   --mode quick|full      sizes (bench/lib/modes.ts); default quick
 *   --only a,b             scenarios among idle, dm, room, xregion
 *   --targets a,b          among gateway, gateway-socketio, baseline-socketio, bare-uws
 *   --workers N            load-generator processes (default: the mode's)
 *   --profile              run gateways with --cpu-prof; summaries in bench/results/profiles/
 *   --node-flags "F …"     more node/V8 flags for every gateway process (space-separated), e.g.
 *                          "--max-semi-space-size=4" to compare GC settings; recorded in the JSON
 *   --out DIR              results directory (default bench/results)
 *   --addresses N          client source addresses 127.0.0.2 … 127.0.0.(N+1) (default 8)
 *   --no-client-msg-id     send messages without clientMsgId (diagnostic: the gateway then skips
 *                          its dedup write); the default sends one, as the SDK does
 *   --gateway-storage S    cassandra (default) or embedded (diagnostic: LMDB instead of Cassandra,
 *                          to separate the gateway's own cost from the database's)
 *   --no-storage-probe     skip measuring (and warming up) Cassandra on its own first
 *   --probe-seconds N      seconds per storage-probe phase (default: the mode's); longer warms
 *                          Cassandra's JIT more before the targets are measured
 *   --keep-logs            keep the servers' and workers' logs (kept anyway when a step failed)
 *   --cassandra-jmx        open JMX on the bench's Cassandra (loopback, port logged) for nodetool
 *
 * Starts its own Cassandra, Redis and NATS (test/helpers), then for every (scenario, target) a
 * fresh server process and a fresh set of load-generator processes. Writes
 * <out>/<timestamp>.json, copies it to <out>/latest.json and draws <out>/latest.svg.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBuilt } from '../scripts/ensure-built.mjs';
import { startCassandra } from '../test/helpers/cassandra.ts';
import { startNats } from '../test/helpers/nats.ts';
import { freePort } from '../test/helpers/ports.ts';
import { startRedis } from '../test/helpers/redis.ts';
import { REPO_ROOT } from './lib/children.ts';
import { type BenchContext, isSkipped, type ResultRow, SkipError } from './lib/context.ts';
import { MODES } from './lib/modes.ts';
import { fdLimits, loadAverage, machineInfo } from './lib/proc-stats.ts';
import { TARGETS, type TargetName } from './lib/targets.ts';
import { renderChart } from './report/chart.ts';
import { summarizeProfiles } from './report/profile.ts';
import { goals, ratios } from './report/summary.ts';
import { issueTargets, targetLine } from './report/targets.ts';
import { idleScenario } from './scenarios/idle.ts';
import { storageProbe } from './scenarios/storage-probe.ts';
import { trafficScenario } from './scenarios/traffic.ts';
import { xregionScenario } from './scenarios/xregion.ts';

const SCENARIOS = ['idle', 'dm', 'room', 'xregion'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'quick' },
    only: { type: 'string' },
    targets: { type: 'string' },
    workers: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'node-flags': { type: 'string' },
    'keep-logs': { type: 'boolean', default: false },
    addresses: { type: 'string', default: '8' },
    'no-client-msg-id': { type: 'boolean', default: false },
    'gateway-storage': { type: 'string', default: 'cassandra' },
    'no-storage-probe': { type: 'boolean', default: false },
    'probe-seconds': { type: 'string' },
    'cassandra-jmx': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
  },
});

function listOption<T extends string>(raw: string | undefined, all: readonly T[], what: string): T[] {
  if (!raw) return [...all];
  const picked = raw.split(',').map((s) => s.trim());
  const bad = picked.filter((p) => !all.includes(p as T));
  if (bad.length > 0) throw new Error(`unknown ${what}: ${bad.join(', ')} (known: ${all.join(', ')})`);
  return picked as T[];
}

async function main(): Promise<void> {
  const modeName = values.mode as keyof typeof MODES;
  const base = MODES[modeName];
  if (!base) throw new Error(`--mode must be quick or full, got ${values.mode}`);
  const mode = { ...base, workers: values.workers ? Number(values.workers) : base.workers };
  if (!['cassandra', 'embedded'].includes(values['gateway-storage']!)) {
    throw new Error(`--gateway-storage must be cassandra or embedded, got ${values['gateway-storage']}`);
  }
  const scenarios = listOption<Scenario>(values.only, SCENARIOS, 'scenario');
  const targets = listOption<TargetName>(values.targets, TARGETS, 'target');
  const outDir = resolve(REPO_ROOT, values.out!);
  mkdirSync(outDir, { recursive: true });
  const logDir = mkdtempSync(join(tmpdir(), 'chat-bench-'));
  const profileDir = values.profile ? join(outDir, 'profiles') : null;
  const gatewayNodeFlags = (values['node-flags'] ?? '').split(' ').filter((f) => f !== '');
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const started = new Date();
  const log = (msg: string) =>
    console.log(`[${((Date.now() - started.getTime()) / 1000).toFixed(1)}s] ${msg}`);
  const machine = machineInfo();
  const fd = fdLimits();
  const loadBefore = loadAverage();
  log(
    `mode ${mode.name}, ${machine.nproc} CPUs (${machine.cpuModel}), open-files limit ${fd.soft}/${fd.hard}`,
  );
  log(`logs in ${logDir}`);
  // Gateways run compiled (dist/); build now, before any service or measurement starts.
  const build = ensureBuilt(REPO_ROOT);
  if (build.built) log(`built dist/ in ${(build.ms / 1000).toFixed(1)} s`);

  const gateways = targets.some((t) => t.startsWith('gateway'));
  const xregion = scenarios.includes('xregion') && targets.includes('gateway');
  const needs = {
    cassandra: xregion || (gateways && values['gateway-storage'] === 'cassandra'),
    redis: gateways || targets.includes('baseline-socketio'),
    nats: gateways,
  };
  log(
    `starting ${
      Object.keys(needs)
        .filter((k) => needs[k as keyof typeof needs])
        .join(', ') || 'no services'
    }`,
  );
  const jmxPort = values['cassandra-jmx'] ? await freePort() : undefined;
  const [cassandra, redis, nats] = await Promise.all([
    // 2 GB of heap, not the tests' 1 GB: the probe's batch rows write 35k rows/s, and with the
    // storage-attached index on messages (migration 3) a 1 GB heap ran out during them (OOM, 20:38).
    needs.cassandra ? startCassandra({ heap: '2G', ...(jmxPort !== undefined ? { jmxPort } : {}) }) : null,
    needs.redis ? startRedis() : null,
    needs.nats ? startNats() : null,
  ]);
  if (cassandra) {
    log(
      `Cassandra up in ${(cassandra.startupMs / 1000).toFixed(1)} s (pid ${cassandra.pid}, dir ${cassandra.dir}` +
        `${jmxPort !== undefined ? `, JMX on 127.0.0.1:${jmxPort}` : ''})`,
    );
  }
  const probe =
    cassandra && !values['no-storage-probe']
      ? await storageProbe(cassandra, {
          ...mode.storageProbe,
          ...(values['probe-seconds'] ? { seconds: Number(values['probe-seconds']) } : {}),
          log,
          ...(redis ? { redis: { url: redis.url, pid: redis.pid } } : {}),
        }).catch((err: unknown) => {
          log(`storage probe failed: ${(err as Error).message}`);
          return null;
        })
      : null;

  const ctx: BenchContext = {
    mode,
    logDir,
    profileDir,
    gatewayNodeFlags,
    cassandra: cassandra
      ? {
          contactPoints: cassandra.contactPoints,
          port: cassandra.port,
          localDataCenter: cassandra.localDataCenter,
        }
      : { contactPoints: ['127.0.0.1'], port: 9042, localDataCenter: 'dc1' },
    redisUrl: redis?.url ?? 'redis://127.0.0.1:6379',
    natsUrl: nats?.url ?? 'nats://127.0.0.1:4222',
    servicePids: {
      cassandra: cassandra ? [cassandra.pid] : [],
      redis: redis ? [redis.pid] : [],
      nats: nats ? [nats.pid] : [],
    },
    localAddresses: Array.from({ length: Number(values.addresses) }, (_, i) => `127.0.0.${i + 2}`),
    fdHard: fd.hard,
    clientMsgIds: !values['no-client-msg-id'],
    gatewayStorage: values['gateway-storage'] === 'embedded' ? 'embedded' : 'cassandra',
    log,
  };

  const rows: ResultRow[] = [];
  const attempt = async (
    scenario: Scenario,
    target: TargetName,
    fn: () => Promise<ResultRow | ResultRow[]>,
  ) => {
    try {
      const r = await fn();
      rows.push(...(Array.isArray(r) ? r : [r]));
    } catch (err) {
      if (err instanceof SkipError) {
        log(`${scenario}/${target}: skipped — ${err.message}`);
        rows.push({ scenario, target, skipped: err.message });
      } else {
        log(`${scenario}/${target}: FAILED — ${(err as Error).stack ?? String(err)}`);
        rows.push({ scenario, target, skipped: `failed: ${(err as Error).message.split('\n')[0]}` });
      }
    }
  };

  try {
    for (const scenario of scenarios) {
      if (scenario === 'xregion') {
        if (targets.includes('gateway')) await attempt('xregion', 'gateway', () => xregionScenario(ctx));
        continue;
      }
      for (const target of targets) {
        if (scenario === 'idle') await attempt(scenario, target, () => idleScenario(ctx, target));
        else await attempt(scenario, target, () => trafficScenario(ctx, scenario, target));
      }
    }
  } finally {
    log('stopping services');
    await Promise.allSettled([cassandra?.close(), redis?.close(), nats?.close()]);
  }

  const finished = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const result = {
    version: 1,
    mode: mode.name,
    started: started.toISOString(),
    finished: finished.toISOString(),
    duration_s: Math.round((finished.getTime() - started.getTime()) / 1000),
    code: gitState(),
    machine: {
      ...machine,
      node: process.version,
      open_files_limit: fd,
      load_average_before: loadBefore,
      load_average_after: loadAverage(),
    },
    conditions: {
      note: 'Everything on one machine: the server under test (one process), Cassandra, Redis, NATS and the load generator share its CPUs.',
      load_generator: `${mode.workers} processes, open loop, fixed rate per step, raw WebSocket client (bench/loadgen/ws-client.ts)`,
      step: mode.step,
      body_chars: mode.bodyChars,
      dm_pairs: mode.dm.pairs,
      room: { groups: mode.room.groups, members: mode.room.members },
      latency: 'scheduled send time (carried in the message body) → receipt by each recipient; acks likewise',
      sustained:
        'a step is sustained when ≥ 97 % of the offered rate was acked inside the window, nothing was lost, and p99 delivery ≤ 500 ms',
      gateway_limits:
        'per-connection rate limits lifted, maxBackpressureBytes 16 MiB; Cassandra RF 1, LOCAL_QUORUM',
      profiled: values.profile,
      gateway_node_flags: gatewayNodeFlags,
      client_msg_ids: !values['no-client-msg-id'],
      gateway_storage: values['gateway-storage'],
    },
    storage_probe: probe,
    rows,
    ratios: ratios(rows),
    goals: goals(rows, mode.name),
    targets: issueTargets(rows),
    ...(profileDir ? { profiles: summarizeProfiles(profileDir) } : {}),
  };
  const file = join(outDir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  copyFileSync(file, join(outDir, 'latest.json'));
  writeFileSync(join(outDir, 'latest.svg'), renderChart({ ...result, finished: result.finished }));
  log(`wrote ${file}, latest.json and latest.svg`);
  const failed = rows.some((r) => isSkipped(r) && r.skipped.startsWith('failed'));
  if (values['keep-logs'] || failed) log(`logs kept in ${logDir}`);
  else rmSync(logDir, { recursive: true, force: true });
  console.log('\nratios:');
  for (const r of result.ratios) {
    console.log(
      `  ${r.scenario} ${r.numerator} / ${r.denominator}: ${r.value ?? `n/a (${r.why_null})`}${r.goal ? ` (goal ${r.goal})` : ''}`,
    );
  }
  console.log('issue 12 targets:');
  for (const t of result.targets) console.log(`  ${targetLine(t)}`);
  console.log('goals:');
  for (const g of result.goals)
    console.log(`  [${g.met === null ? '?' : g.met ? 'met' : 'MISSED'}] ${g.goal}: ${g.measured}`);
}

/** The commit measured, and whether src/ had uncommitted changes (others edit it concurrently). */
function gitState(): { commit: string; src_dirty: string[] } {
  const git = (args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  try {
    return {
      commit: git(['rev-parse', 'HEAD']),
      src_dirty: git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean),
    };
  } catch {
    return { commit: 'unknown', src_dirty: [] };
  }
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${sig}: stopping (children are killed on exit)`);
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
