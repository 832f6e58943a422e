/**
 * `dm` and `room`: messages through the whole path at fixed offered rates, climbing a ladder of
 * rates until the target cannot keep up.
 *
 * - `dm`: pairs of users, each pair one direct conversation; the two take turns sending, the
 *   other receives. On the gateway every message is written to Cassandra (dedup record by
 *   clientMsgId, message row, last-message pointer) before the sender's ack.
 * - `room`: groups of `members` users (100 by default); members take turns sending, every other
 *   member receives: one message → members − 1 deliveries.
 */

import { availableParallelism } from 'node:os';
import {
  type BenchContext,
  measureWindow,
  type Row,
  servicesOf,
  sleep,
  startTarget,
  trafficRow,
  wireFor,
} from '../lib/context.ts';
import { LoadGen } from '../lib/loadgen.ts';
import type { RunningServer, TargetName } from '../lib/targets.ts';
import type { Unit } from '../loadgen/types.ts';

export function dmUnits(prefix: string, pairs: number): Unit[] {
  return Array.from({ length: pairs }, (_, i) => {
    const members = [`${prefix}a${i}`, `${prefix}b${i}`];
    const [x, y] = [...members].sort();
    return { kind: 'dm' as const, conversationId: `dm:${x}:${y}`, members };
  });
}

export function roomUnits(prefix: string, groups: number, size: number): Unit[] {
  return Array.from({ length: groups }, (_, g) => ({
    kind: 'group' as const,
    conversationId: null,
    members: Array.from({ length: size }, (_, m) => `${prefix}g${g}m${m}`),
  }));
}

/** Runs the ladder on a connected, prepared load generator; stops after the first unsustained step. */
export async function climb(
  ctx: BenchContext,
  opts: {
    scenario: string;
    target: TargetName;
    lg: LoadGen;
    servers: RunningServer[];
    /** Services besides the shared ones (e.g. a second region's), counted in services_cpu_s. */
    extraServicePids?: Record<string, number[]>;
    /** Services whose CPU is the target's server-side cost; default `servicesOf(target)`. */
    serverServices?: string[];
    ladder: number[];
    connections: number;
    fanout: number;
  },
): Promise<Row[]> {
  const rows: Row[] = [];
  const { step } = ctx.mode;
  for (const rate of opts.ladder) {
    const startAt = Date.now() + 300;
    const window = measureWindow(
      {
        target: opts.servers.map((s) => s.pid),
        services: { ...ctx.servicePids, ...opts.extraServicePids },
        serverServices: opts.serverServices ?? servicesOf(opts.target, ctx.gatewayStorage),
        loadgen: opts.lg.pids,
      },
      startAt + step.warmupMs,
      startAt + step.warmupMs + step.measureMs,
    );
    const agg = await opts.lg.run(rate, { ...step, startAt });
    const row = trafficRow(opts.scenario, opts.target, opts.connections, agg, await window, opts.fanout);
    rows.push(row);
    ctx.log(
      `${opts.scenario}/${opts.target} @${rate}/s: ${row.msgs_per_s} msg/s, ${row.deliveries_per_s} deliveries/s, ` +
        `p50 ${row.p50_ms} p99 ${row.p99_ms} max ${row.max_ms} ms, errors ${row.errors}` +
        `${row.ping_p99_ms !== undefined ? `, ping p99 ${String(row.ping_p99_ms)} ms` : ''}, ` +
        `loadgen lag p99 ${String(row.loadgen_lag_p99_ms)} ms, ` +
        `cpu ${row.cpu_s}s, server-side ${String(row.server_side_cpu_s)}s = ${String(row.cpu_ms_per_msg)} ms/msg ` +
        `(services ${JSON.stringify(row.services_cpu_detail)}, loadgen ${String(row.loadgen_cpu_s)}s, ` +
        `other ${String(row.other_cpu_s)}s; machine busy ${String(row.machine_busy_cpu_s)}s of ` +
        `${(availableParallelism() * step.measureMs) / 1000}s)` +
        `${row.sustained ? '' : ' — not sustained, stopping'}`,
    );
    if (!row.sustained) break;
    // Let timers, GC and Cassandra compaction from the last step settle a little.
    await sleep(500);
  }
  return rows;
}

export async function trafficScenario(
  ctx: BenchContext,
  scenario: 'dm' | 'room',
  target: TargetName,
): Promise<Row[]> {
  const prefix = `${scenario[0]}${target.replace(/[^a-z]/g, '').slice(0, 6)}`;
  const units =
    scenario === 'dm'
      ? dmUnits(prefix, ctx.mode.dm.pairs)
      : roomUnits(prefix, ctx.mode.room.groups, ctx.mode.room.members);
  const ladder = scenario === 'dm' ? ctx.mode.dm.ladder[target] : ctx.mode.room.ladder[target];
  const fanout = scenario === 'dm' ? 1 : ctx.mode.room.members - 1;
  const connections = units.reduce((a, u) => a + u.members.length, 0);
  const server = await startTarget(ctx, target, `${scenario}-${target}`);
  let lg: LoadGen | undefined;
  try {
    lg = await LoadGen.start({
      ...wireFor(target, ctx.clientMsgIds),
      workers: ctx.mode.workers,
      host: server.host,
      port: server.port,
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
    ctx.log(
      `${scenario}/${target}: ${connections} connections, ${units.length} conversations ready` +
        (c.retried > 0 ? ` (${c.retried} connects retried; first error: ${c.firstError})` : ''),
    );
    return await climb(ctx, { scenario, target, lg, servers: [server], ladder, connections, fanout });
  } finally {
    await lg?.close();
    await server.stop();
  }
}
