/**
 * `idle`: N authenticated connections held open on one server process. Reports how fast they
 * connect (each one ready: on the gateway that is after `synced`, i.e. JWT checked, routing
 * subscribed, presence marked and the offline queue read) and how much memory each costs the
 * server: (RSS after − RSS before) / N as the OS sees it, and — after a full garbage collection
 * forced through the inspector — the V8 heap and RSS each connection really keeps.
 */
import { type BenchContext, isContended, type Row, sleep, startTarget, wireFor } from '../lib/context.ts';
import { collectGarbage, inspectorUrl } from '../lib/inspector.ts';
import { LoadGen } from '../lib/loadgen.ts';
import { cpuSeconds, machineBusySeconds, rssBytes } from '../lib/proc-stats.ts';
import type { TargetName } from '../lib/targets.ts';

/** File descriptors a server keeps for itself (listen socket, services, stdio, libuv). */
const FD_RESERVE = 500;

export async function idleScenario(ctx: BenchContext, target: TargetName): Promise<Row> {
  const requested = ctx.mode.idle.connections;
  const n = Math.min(requested, ctx.fdHard - FD_RESERVE);
  const server = await startTarget(ctx, target, `idle-${target}`, { inspect: true });
  const inspector = inspectorUrl(server.proc.logFile);
  const afterGc = async () => {
    if (!inspector) return null;
    const heap = await collectGarbage(inspector).catch(() => null);
    return heap ? { heap: heap.usedSize, rss: rssBytes(server.pid) } : null;
  };
  let lg: LoadGen | undefined;
  try {
    await sleep(1000);
    const gcBefore = await afterGc();
    const rssBefore = rssBytes(server.pid);
    const prefix = `i${target.replace(/[^a-z]/g, '').slice(0, 6)}`;
    const users = Array.from({ length: n }, (_, i) => `${prefix}_${i}`);
    lg = await LoadGen.start({
      ...wireFor(target, ctx.clientMsgIds),
      workers: ctx.mode.workers,
      host: server.host,
      port: server.port,
      localAddresses: ctx.localAddresses,
      connectConcurrency: Math.ceil(ctx.mode.idle.connectConcurrency / ctx.mode.workers),
      idleUsers: users,
      bodyChars: ctx.mode.bodyChars,
      maxLifetimeMs: 30 * 60_000,
      logDir: ctx.logDir,
    });
    ctx.log(`idle/${target}: connecting ${n}${n < requested ? ` (of ${requested} requested)` : ''}`);
    const cpuBefore = cpuSeconds(server.pid);
    const servicePids = Object.values(ctx.servicePids).flat();
    const sum = (pids: number[]) => pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const loadgenBefore = sum(lg.pids);
    const servicesBefore = sum(servicePids);
    const machineBefore = machineBusySeconds();
    const res = await lg.connect();
    const cpuConnect = cpuSeconds(server.pid) - cpuBefore;
    const loadgenCpu = sum(lg.pids) - loadgenBefore;
    const servicesCpu = sum(servicePids) - servicesBefore;
    const others = Math.max(0, machineBusySeconds() - machineBefore - cpuConnect - loadgenCpu - servicesCpu);
    await sleep(ctx.mode.idle.settleMs);
    const rssAfter = rssBytes(server.pid);
    const gcAfter = await afterGc();
    const per = (delta: number) => (res.connected > 0 ? Math.round(delta / res.connected) : null);
    const perConn = per(rssAfter - rssBefore);
    ctx.log(
      `idle/${target}: ${res.connected} connected in ${(res.durationMs / 1000).toFixed(1)} s, ` +
        `${perConn ?? '?'} B RSS each` +
        (gcBefore && gcAfter
          ? ` (after a forced GC: ${per(gcAfter.heap - gcBefore.heap)} B V8 heap, ${per(gcAfter.rss - gcBefore.rss)} B RSS)`
          : '') +
        `${res.failed ? `, ${res.failed} failed: ${res.firstError}` : ''}`,
    );
    return {
      scenario: 'idle',
      target,
      connections: res.connected,
      rate: null,
      msgs_per_s: null,
      deliveries_per_s: null,
      p50_ms: null,
      p95_ms: null,
      p99_ms: null,
      max_ms: null,
      errors: res.failed,
      rss_bytes: rssAfter,
      cpu_s: Math.round(cpuConnect * 100) / 100,
      requested_connections: requested,
      ...(n < requested
        ? {
            capped_by: `open-files hard limit ${ctx.fdHard} (RLIMIT_NOFILE; the process cannot raise it: no CAP_SYS_RESOURCE)`,
          }
        : {}),
      connect_per_s: Math.round((res.connected * 1000) / res.durationMs),
      connect_s: Math.round(res.durationMs / 100) / 10,
      rss_before_bytes: rssBefore,
      bytes_per_connection: perConn,
      ...(gcBefore && gcAfter
        ? {
            heap_bytes_per_connection_after_gc: per(gcAfter.heap - gcBefore.heap),
            rss_bytes_per_connection_after_gc: per(gcAfter.rss - gcBefore.rss),
          }
        : {}),
      connect_retries: res.retried,
      loadgen_cpu_s: Math.round(loadgenCpu * 100) / 100,
      services_cpu_s: Math.round(servicesCpu * 100) / 100,
      other_cpu_s: Math.round(others * 100) / 100,
      contended: isContended(others, res.durationMs / 1000),
      first_error: res.firstError,
    };
  } finally {
    await lg?.close();
    await server.stop();
  }
}
