/**
 * `npm run faults`: continuous traffic through the SDK across three regions while one fault per
 * scenario breaks and heals a piece of the cluster; then counts, per recipient device, every
 * acked message it should have got against what it emitted to the app. Exits 1 when any delivery
 * was lost or emitted twice (or a scenario could not run).
 *
 *   npm run faults [-- --scenario nats-down --scenario slow-consumer] [--quick] [--duration 40]
 *                     [--rate 25] [--region eu-west]
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Ledger, recovery } from './ledger.ts';
import { awaitReplicationSettled } from './replication.ts';
import {
  failed,
  formatScenario,
  formatSummary,
  resultsStem,
  type ScenarioResult,
  writeResults,
} from './report.ts';
import { type FaultContext, SCENARIOS, type Scenario } from './scenarios.ts';
import { REGIONS, type Region, startTopology, type Topology } from './topology.ts';
import { Fleet, homeOf, userIds } from './traffic.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    rate: { type: 'string', default: '25' },
    region: { type: 'string', default: 'eu-west' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run faults -- [--scenario <name>]… [--quick] [--duration <s>] [--rate <msgs/s>] [--region <r>]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(0);
}
const selected: Scenario[] = (values.scenario ?? SCENARIOS.map((s) => s.name)).map((name) => {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario ${name}; one of ${SCENARIOS.map((x) => x.name).join(', ')}`);
  return s;
});
if (!REGIONS.includes(values.region as Region)) throw new Error(`--region: one of ${REGIONS.join(', ')}`);
const region = values.region as Region;
const quick = values.quick;
const rate = Number(values.rate);
/** Traffic before the fault, so every device is connected and sending when it hits. */
const WARMUP_MS = quick ? 3_000 : 5_000;
/** Traffic after the heal, long enough for reconnect backoffs (up to 30 s in the SDK) to come round. */
const AFTER_HEAL_MS = quick ? 10_000 : 20_000;
/** Total traffic time per scenario; at least warm-up + outage + after-heal. */
const durationMs = values.duration ? Number(values.duration) * 1000 : 0;
/** How long to wait for outboxes to empty once traffic stops. */
const DRAIN_MS = 60_000;
/** Quiet time before the explicit sync, for cross-region deliveries still in flight. */
const SETTLE_MS = quick ? 3_000 : 5_000;
/** Bound on the wait for every region's cross-region backlog to be applied (replication.ts). */
const REPLICATION_SETTLE_MS = 60_000;

function log(line: string): void {
  console.log(`[faults ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

let topology: Topology | undefined;
let fleet: Fleet | undefined;
let stopping = false;

/** Stops everything this run started (clients, gateways, NATS, Redis, Cassandra) and exits. */
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await fleet?.close().catch(() => undefined);
    await topology?.close().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
  }
  process.exit(code);
}
let firstSignalAt = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // Ctrl-C reaches this process twice (from the terminal's process group and relayed by tsx):
    // only a signal well after the first one means "stop waiting for the cleanup".
    if (firstSignalAt > 0) {
      if (Date.now() - firstSignalAt > 3000) process.exit(130);
      return;
    }
    firstSignalAt = Date.now();
    log(`${sig}: stopping everything`);
    void shutdown(130);
  });
}

async function runScenario(s: Scenario, prefix: string, topo: Topology): Promise<ScenarioResult> {
  const downMs = quick ? s.downMs.quick : s.downMs.full;
  const ledger = new Ledger();
  const result: ScenarioResult = {
    name: s.name,
    description: s.description,
    region: s.scope === 'all' ? 'all' : region,
    downMs,
    timeline: { startAt: Date.now(), faultAt: null, healAt: null, trafficEndAt: null },
    acked: 0,
    resendAcks: 0,
    rejected: {},
    queuedAtEnd: 0,
    replication: null,
    syncFailed: {},
    unackedDeliveries: 0,
    totals: { expected: 0, received: 0, lost: 0, duplicates: 0 },
    devices: [],
    recovery: null,
    clientErrors: {},
    connections: {},
  };
  await topo.ready();
  const f = new Fleet(prefix, topo.urls, ledger);
  fleet = f;
  let injected = false;
  let healed = false;
  let ctx: FaultContext | undefined;
  let affected = new Set<string>();
  try {
    await f.setUp();
    // The starved device: user 1's own device, homed in eu-west, in a DM and two groups.
    const slowDevice = f.devices.find((d) => d.key === `${prefix}u1/a`)!;
    ctx = { topology: topo, fleet: f, region, slowDevice };
    log(`${s.name}: traffic at ${rate} msgs/s from ${f.devices.length} devices`);
    f.start(rate);
    const startAt = Date.now();
    result.timeline.startAt = startAt;
    await sleep(WARMUP_MS);

    affected = new Set(
      s.scope === 'all'
        ? f.devices.map((d) => d.key)
        : s.scope === 'device'
          ? [slowDevice.key]
          : f.devices.filter((d) => d.region === region).map((d) => d.key),
    );
    const faultAt = Date.now();
    result.timeline.faultAt = faultAt;
    log(`${s.name}: fault (${affected.size} devices affected)`);
    injected = true;
    await s.inject(ctx);
    await sleep(Math.max(0, faultAt + downMs - Date.now()));
    log(`${s.name}: healing`);
    await s.heal(ctx);
    healed = true;
    const healAt = Date.now();
    result.timeline.healAt = healAt;
    log(`${s.name}: healed after ${((healAt - faultAt) / 1000).toFixed(1)} s`);
    await sleep(Math.max(healAt + AFTER_HEAL_MS, startAt + durationMs) - Date.now());
  } catch (err) {
    result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`${s.name}: ${result.error}`);
  } finally {
    f.stop();
    result.timeline.trafficEndAt = Date.now();
    if (injected && !healed && ctx) {
      // Leave the cluster whole for the next scenario, whatever went wrong.
      await s.heal(ctx).catch((err: unknown) => log(`${s.name}: heal failed: ${String(err)}`));
    }
  }

  log(`${s.name}: traffic stopped; draining outboxes, then sync`);
  result.queuedAtEnd = await f.drain(DRAIN_MS);
  result.replication = await awaitReplicationSettled(topo.natsUrls, REPLICATION_SETTLE_MS);
  await sleep(SETTLE_MS);
  result.syncFailed = await f.syncAll(30_000);
  const counts = ledger.count(f.devices, f.members);
  result.devices = counts;
  result.totals = {
    expected: counts.reduce((n, c) => n + c.expected, 0),
    received: counts.reduce((n, c) => n + c.received, 0),
    lost: counts.reduce((n, c) => n + c.lost, 0),
    duplicates: counts.reduce((n, c) => n + c.duplicates, 0),
  };
  result.acked = ledger.acks.size;
  result.resendAcks = [...ledger.acks.values()].filter((a) => a.duplicate).length;
  for (const r of ledger.rejected) result.rejected[r.code] = (result.rejected[r.code] ?? 0) + 1;
  result.unackedDeliveries = ledger.unackedDeliveries();
  if (result.timeline.faultAt !== null) {
    result.recovery = recovery(
      ledger.acks.values(),
      affected,
      s.scope === 'region' ? region : null,
      result.timeline.faultAt,
      result.timeline.healAt,
    );
  }
  const since = result.timeline.startAt;
  for (const d of f.devices) {
    if (d.errors.size > 0) result.clientErrors[d.key] = Object.fromEntries(d.errors);
    const changes = d.connections
      .filter((c) => c.at >= since)
      .map((c) =>
        `+${((c.at - since) / 1000).toFixed(1)}s ${c.state} ${c.region ?? ''} ${c.closeCode ?? ''}`.trim(),
      );
    if (changes.length > 0) result.connections[d.key] = changes;
  }
  await f.close();
  fleet = undefined;
  return result;
}

async function main(): Promise<void> {
  const runTag = randomBytes(3).toString('hex');
  // Users of every scenario are pinned up front: gateways read directory.pins once, at start.
  const prefixes = selected.map((_, k) => `f${runTag}s${k}`);
  const pins: Record<string, Region> = {};
  for (const p of prefixes) for (const [i, u] of userIds(p).entries()) pins[u] = homeOf(i);
  const started = Date.now();
  topology = await startTopology({ pins, log });
  log(`cluster up in ${((Date.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(topology.pids())}`);

  const results: ScenarioResult[] = [];
  for (const [k, s] of selected.entries()) {
    const r = await runScenario(s, prefixes[k]!, topology);
    results.push(r);
    console.log(formatScenario(r));
  }
  console.log(formatSummary(results));
  const stem = resultsStem(ROOT);
  const file = await writeResults(stem, {
    startedAt: new Date(started).toISOString(),
    options: { quick, rate, region, durationMs, scenarios: selected.map((s) => s.name) },
    results,
  });
  log(`results: ${path.relative(ROOT, file)}`);
  if (results.some(failed)) {
    // The services' logs are in a temp dir that shutdown removes; keep them for whoever looks into it.
    await topology.copyLogs(`${stem}-logs`);
    log(`logs: ${path.relative(ROOT, `${stem}-logs`)}`);
  }
  await shutdown(results.some(failed) ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err);
  void shutdown(2);
});
