/**
 * What every scenario shares: the run's settings and services, how each target is reached, the
 * result row, and the per-step measurement of the processes involved.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { CassandraEndpoint } from '../../test/helpers/cassandra.ts';
import type { WorkerInit } from '../loadgen/types.ts';
import type { AggregateRun } from './loadgen.ts';
import type { ModeConfig } from './modes.ts';
import { cpuSeconds, machineBusySeconds, rssBytes } from './proc-stats.ts';
import {
  BENCH_SECRET,
  hasSocketIoEndpoint,
  type RunningServer,
  startBareUws,
  startGatewayProcess,
  startSocketIoBaseline,
  type TargetName,
  writeGatewayConfig,
} from './targets.ts';
import { readThreads, type ThreadReading, threadGroupDelta } from './thread-cpu.ts';

export interface BenchContext {
  mode: ModeConfig;
  logDir: string;
  /** Set with --profile: gateways write V8 CPU profiles here. */
  profileDir: string | null;
  /** Extra node/V8 flags for every gateway process (`--node-flags`), e.g. GC settings to compare. */
  gatewayNodeFlags: readonly string[];
  cassandra: CassandraEndpoint;
  redisUrl: string;
  natsUrl: string;
  /** pids of Cassandra, Redis and NATS by name, whose CPU time is reported beside the target's. */
  servicePids: Record<string, number[]>;
  /** Source addresses for client sockets (127.0.0.x), so connections are not capped by one address's ports. */
  localAddresses: string[];
  /** The gateway's store: Cassandra (what the issue measures) or, as a diagnostic, embedded LMDB. */
  gatewayStorage: 'cassandra' | 'embedded';
  /** Send a clientMsgId with every message (default; --no-client-msg-id turns it off to measure its cost). */
  clientMsgIds: boolean;
  /** The hard open-files limit: one process cannot hold more sockets than this. */
  fdHard: number;
  log(msg: string): void;
}

/** One line of the results: the fields the issue asks for, then what explains them. */
export interface Row {
  scenario: string;
  target: TargetName;
  connections: number;
  /** Offered messages/s (open loop); null for idle. */
  rate: number | null;
  /** Acked messages/s received inside the measurement window. */
  msgs_per_s: number | null;
  /** `message` frames/s received by recipients inside the window. */
  deliveries_per_s: number | null;
  /** Delivery latency, send (scheduled) time in the body → receipt by a recipient. */
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  errors: number;
  /** Peak resident memory of the server process(es) during the window. */
  rss_bytes: number;
  /** CPU seconds of the server process(es) inside the window (idle: during connecting). */
  cpu_s: number;
  [extra: string]: unknown;
}

export interface SkippedRow {
  scenario: string;
  target: TargetName;
  skipped: string;
}

export type ResultRow = Row | SkippedRow;

export const isSkipped = (r: ResultRow): r is SkippedRow => 'skipped' in r;

/**
 * How the load generator reaches a target. Every target gets the same messages, clientMsgId
 * included (what the SDK always sends; on the gateway it costs a deduplication write).
 */
export function wireFor(
  target: TargetName,
  clientMsgIds = true,
): Pick<WorkerInit, 'wire' | 'path' | 'auth' | 'readyOnConnect' | 'clientMsgIds' | 'probe'> {
  const jwt = { kind: 'jwt' as const, secret: BENCH_SECRET };
  switch (target) {
    case 'gateway':
      return { wire: 'raw', path: '/ws', auth: jwt, readyOnConnect: false, clientMsgIds, probe: true };
    case 'gateway-socketio':
      return {
        wire: 'socketio',
        path: '/socket.io/',
        auth: jwt,
        readyOnConnect: false,
        clientMsgIds,
        probe: true,
      };
    case 'baseline-socketio':
      return {
        wire: 'socketio',
        path: '/socket.io/',
        auth: jwt,
        readyOnConnect: false,
        clientMsgIds,
        probe: false,
      };
    case 'bare-uws':
      return {
        wire: 'raw',
        path: '/ws',
        auth: { kind: 'query' },
        readyOnConnect: false,
        clientMsgIds,
        probe: false,
      };
  }
}

/**
 * The services a target needs to serve, whose CPU counts as its server-side cost beside its own
 * process: the gateway's Cassandra (unless on embedded LMDB), Redis and NATS; the Socket.IO
 * baseline's Redis; nothing for bare uWS. Names are keys of `BenchContext.servicePids`.
 */
export function servicesOf(target: TargetName, gatewayStorage: 'cassandra' | 'embedded'): string[] {
  switch (target) {
    case 'gateway':
    case 'gateway-socketio':
      return gatewayStorage === 'cassandra' ? ['cassandra', 'redis', 'nats'] : ['redis', 'nats'];
    case 'baseline-socketio':
      return ['redis'];
    case 'bare-uws':
      return [];
  }
}

/** JVM threads that compile (C1/C2 JIT): a young JVM's warm-up, not a cost per request. */
const JIT_GROUPS = /^C[12] CompilerThre/;

export class SkipError extends Error {
  override name = 'SkipError';
}

/** Starts a fresh server process for one (scenario, target); throws SkipError if it cannot serve it. */
export async function startTarget(
  ctx: BenchContext,
  target: TargetName,
  tag: string,
  opts: { inspect?: boolean } = {},
): Promise<RunningServer> {
  const inspect = opts.inspect ?? false;
  if (target === 'baseline-socketio') return startSocketIoBaseline(ctx.redisUrl, ctx.logDir, tag, inspect);
  if (target === 'bare-uws') return startBareUws(ctx.logDir, tag, inspect);
  const configFile = writeGatewayConfig(ctx.logDir, [
    {
      name: 'bench',
      id: 1,
      ...(ctx.gatewayStorage === 'cassandra'
        ? { cassandra: { ...ctx.cassandra, keyspace: 'chat_bench' } }
        : { dataDir: join(ctx.logDir, `lmdb-${tag}`) }),
      redisUrl: ctx.redisUrl,
      natsUrl: ctx.natsUrl,
    },
  ]);
  const server = await startGatewayProcess({
    configFile,
    region: 'bench',
    logDir: ctx.logDir,
    tag,
    inspect,
    ...(ctx.profileDir ? { cpuProfDir: ctx.profileDir } : {}),
    nodeFlags: ctx.gatewayNodeFlags,
  });
  if (target === 'gateway-socketio' && !(await hasSocketIoEndpoint(server.host, server.port))) {
    await server.stop();
    throw new SkipError(
      'the gateway has no Socket.IO endpoint yet (GET /socket.io/?EIO=4&transport=polling did not answer an Engine.IO open packet)',
    );
  }
  return server;
}

export interface WindowStats {
  targetCpuS: number;
  targetPeakRss: number;
  servicesCpuS: number;
  /** The same, per service. */
  servicesCpu: Record<string, number>;
  /** The services that serve this target (`servicesOf`), whose CPU is server-side cost. */
  serverServices: string[];
  /** Target + its own services. */
  serverSideCpuS: number;
  /** CPU of the Cassandra JVM's JIT compiler threads (included in servicesCpu.cassandra). */
  cassandraJitCpuS: number;
  /** Cassandra's CPU by thread group (bench/lib/thread-cpu.ts), groups ≥ 50 ms. */
  cassandraThreads: Record<string, number>;
  loadgenCpuS: number;
  /** Busy CPU seconds of the whole machine in the window (all processes, kernel included). */
  machineBusyS: number;
}

/**
 * CPU seconds of the target, the services and the load generator between two instants, and the
 * target's peak RSS in between (sampled every 250 ms).
 */
export function measureWindow(
  pids: {
    target: number[];
    services: Record<string, number[]>;
    /** Which of `services` serve the target (the others still count, but as not its cost). */
    serverServices: string[];
    loadgen: number[];
  },
  startMs: number,
  endMs: number,
): Promise<WindowStats> {
  const cpu = (list: number[]) => list.reduce((a, p) => a + cpuSeconds(p), 0);
  const rss = () => pids.target.reduce((a, p) => a + rssBytes(p), 0);
  const cassandraPids = pids.services.cassandra ?? [];
  const threads = () => cassandraPids.map((p) => readThreads(p));
  const snapshot = () => ({
    target: cpu(pids.target),
    services: Object.fromEntries(Object.entries(pids.services).map(([k, v]) => [k, cpu(v)])),
    loadgen: cpu(pids.loadgen),
    machine: machineBusySeconds(),
    threads: threads(),
  });
  const threadDelta = (a: ThreadReading[], b: ThreadReading[]): Record<string, number> => {
    const sum: Record<string, number> = {};
    b.forEach((after, i) => {
      for (const [g, v] of Object.entries(threadGroupDelta(a[i] ?? new Map(), after))) {
        sum[g] = Math.round(((sum[g] ?? 0) + v) * 100) / 100;
      }
    });
    return sum;
  };
  return new Promise((resolve) => {
    let t0 = snapshot();
    let peak = 0;
    let sampler: NodeJS.Timeout | undefined;
    setTimeout(
      () => {
        t0 = snapshot();
        peak = rss();
        sampler = setInterval(() => {
          peak = Math.max(peak, rss());
        }, 250);
      },
      Math.max(0, startMs - Date.now()),
    );
    setTimeout(
      () => {
        clearInterval(sampler);
        const t1 = snapshot();
        const servicesCpu = Object.fromEntries(
          Object.entries(t1.services).map(([k, v]) => [
            k,
            Math.round((v - (t0.services[k] ?? 0)) * 100) / 100,
          ]),
        );
        const targetCpuS = t1.target - t0.target;
        const cassandraThreads = threadDelta(t0.threads, t1.threads);
        resolve({
          targetCpuS,
          targetPeakRss: Math.max(peak, rss()),
          servicesCpuS: Object.values(servicesCpu).reduce((a, v) => a + v, 0),
          servicesCpu,
          serverServices: pids.serverServices,
          serverSideCpuS: targetCpuS + pids.serverServices.reduce((a, k) => a + (servicesCpu[k] ?? 0), 0),
          cassandraJitCpuS: Object.entries(cassandraThreads)
            .filter(([g]) => JIT_GROUPS.test(g))
            .reduce((a, [, v]) => a + v, 0),
          cassandraThreads,
          loadgenCpuS: t1.loadgen - t0.loadgen,
          machineBusyS: t1.machine - t0.machine,
        });
      },
      Math.max(0, endMs - Date.now()),
    );
  });
}

const ms = (us: number) => Math.round(us / 10) / 100;
const round = (v: number, digits = 0) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * A step is sustained when the target kept up with the offered rate (≥ 97 % acked inside the
 * window), lost nothing, and its p99 delivery latency stayed under half a second.
 */
export function isSustained(agg: AggregateRun, errors: number): boolean {
  return agg.msgsPerS >= 0.97 * agg.rate && errors === 0 && agg.delivery.percentile(99) <= 500_000;
}

/**
 * A window is contended when processes this run does not measure (other tenants of the machine;
 * also kernel time not billed to ours) used more than a quarter of the machine's CPU in it: its
 * figures then say more about the neighbours than about the target.
 */
export const CONTENDED_SHARE = 0.25;
/** Generator lag p99 above which a step's figures are bounded by the load generator, not the target. */
export const LOADGEN_LAG_LIMIT_US = 50_000;
export function isContended(otherCpuS: number, windowS: number): boolean {
  return otherCpuS > CONTENDED_SHARE * availableParallelism() * windowS;
}

export function trafficRow(
  scenario: string,
  target: TargetName,
  connections: number,
  agg: AggregateRun,
  w: WindowStats,
  fanout: number,
): Row {
  const frames = Object.values(agg.errorFrames).reduce((a, n) => a + n, 0);
  const lostDeliveries = Math.max(0, agg.lostDeliveries);
  const errors = frames + agg.lostAcks + lostDeliveries + agg.connectionsClosed + agg.unsendable;
  const other = Math.max(0, w.machineBusyS - w.targetCpuS - w.servicesCpuS - w.loadgenCpuS);
  return {
    scenario,
    target,
    connections,
    rate: agg.rate,
    msgs_per_s: round(agg.msgsPerS),
    deliveries_per_s: round(agg.deliveriesPerS),
    p50_ms: ms(agg.delivery.percentile(50)),
    p95_ms: ms(agg.delivery.percentile(95)),
    p99_ms: ms(agg.delivery.percentile(99)),
    max_ms: ms(agg.delivery.max),
    errors,
    rss_bytes: w.targetPeakRss,
    cpu_s: round(w.targetCpuS, 2),
    sustained: isSustained(agg, errors),
    offered_deliveries_per_s: agg.rate * fanout,
    ack_p50_ms: ms(agg.ack.percentile(50)),
    ack_p99_ms: ms(agg.ack.percentile(99)),
    window_s: round(agg.windowMs / 1000, 1),
    error_detail: {
      lost_acks: agg.lostAcks,
      lost_deliveries: lostDeliveries,
      error_frames: agg.errorFrames,
      connections_closed: agg.connectionsClosed,
      unsendable: agg.unsendable,
    },
    loadgen_lag_p99_ms: ms(agg.lag.percentile(99)),
    // The generator sent late by this much: it was short of CPU, and the latencies include it.
    loadgen_saturated: agg.lag.percentile(99) > LOADGEN_LAG_LIMIT_US,
    ...(agg.probe.total > 0
      ? {
          ping_p50_ms: ms(agg.probe.percentile(50)),
          ping_p99_ms: ms(agg.probe.percentile(99)),
          ping_max_ms: ms(agg.probe.max),
        }
      : {}),
    loadgen_cpu_s: round(w.loadgenCpuS, 2),
    services_cpu_s: round(w.servicesCpuS, 2),
    services_cpu_detail: w.servicesCpu,
    ...serverSide(agg, w),
    machine_busy_cpu_s: round(w.machineBusyS, 2),
    // Busy CPU not used by anything this run measures: other tenants of a shared machine, plus
    // kernel time (loopback TCP softirq) not billed to our processes.
    other_cpu_s: round(other, 2),
    contended: isContended(other, agg.windowMs / 1000),
  };
}

/**
 * Server-side CPU of a step: the target process plus the services that serve it (`servicesOf`),
 * per acked message and per delivery received inside the window, and the target process's
 * deliveries per CPU-second. The Cassandra JVM's JIT compiler threads are shown apart: a fresh
 * JVM compiles for its first minutes under load (all of a quick run), which is not a cost per
 * message (docs/benchmarks.md, "What Cassandra does during dm").
 */
function serverSide(agg: AggregateRun, w: WindowStats): Record<string, unknown> {
  const windowS = agg.windowMs / 1000;
  const acked = agg.msgsPerS * windowS;
  const delivered = agg.deliveriesPerS * windowS;
  const jit = w.serverServices.includes('cassandra') ? w.cassandraJitCpuS : 0;
  return {
    server_services: w.serverServices,
    server_side_cpu_s: round(w.serverSideCpuS, 2),
    cpu_ms_per_msg: acked > 0 ? round((w.serverSideCpuS * 1000) / acked, 3) : null,
    cpu_ms_per_msg_without_jit: acked > 0 ? round(((w.serverSideCpuS - jit) * 1000) / acked, 3) : null,
    target_cpu_ms_per_msg: acked > 0 ? round((w.targetCpuS * 1000) / acked, 3) : null,
    cpu_us_per_delivery: delivered > 0 ? round((w.serverSideCpuS * 1e6) / delivered, 2) : null,
    deliveries_per_target_cpu_s: w.targetCpuS > 0 ? round(delivered / w.targetCpuS) : null,
    ...(w.serverServices.includes('cassandra')
      ? { cassandra_jit_cpu_s: round(w.cassandraJitCpuS, 2), cassandra_threads_cpu_s: w.cassandraThreads }
      : {}),
  };
}

export const sleep = (msDelay: number) => new Promise((r) => setTimeout(r, msDelay));
