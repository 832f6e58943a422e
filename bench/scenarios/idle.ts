/**
 * `idle`: N authenticated connections held open on one server process. Reports how fast they
 * connect (each one ready: on the gateway that is after `synced`, i.e. JWT checked, routing
 * subscribed, presence marked and the offline queue read) and how much memory each costs the
 * server: (RSS after − RSS before) / N as the OS sees it, and — after a full garbage collection
 * forced through the inspector — the V8 heap and RSS each connection really keeps.
 */
import { type BenchContext, isContended, type Row, sleep, startTarget, wireFor } from '../lib/context.ts';
import { Inspector, inspectorUrl } from '../lib/inspector.ts';
import { LoadGen } from '../lib/loadgen.ts';
import { cpuSeconds, machineBusySeconds, rssBytes } from '../lib/proc-stats.ts';
import type { TargetName } from '../lib/targets.ts';

/** File descriptors a server keeps for itself (listen socket, services, stdio, libuv). */
const FD_RESERVE = 500;

export async function idleScenario(ctx: BenchContext, target: TargetName): Promise<Row> {
  const requested = ctx.mode.idle.connections;
  const n = Math.min(requested, ctx.fdHard - FD_RESERVE);
  const server = await startTarget(ctx, target, `idle-${target}`, { inspect: true });
  const url = inspectorUrl(server.proc.logFile);
  const inspector = url ? await Inspector.open(url).catch(() => null) : null;
  const afterGc = async () => {
    const heap = await inspector?.collectGarbage().catch(() => null);
    return heap ? { heap: heap.usedSize, rss: rssBytes(server.pid) } : null;
  };
  let lg: LoadGen | undefined;
  try {
    await sleep(1000);
    const gcBefore = await afterGc();
    const rssBefore = rssBytes(server.pid);
    // What the connections keep, by allocating function: sampled from here to after the last GC.
    const sampling = await inspector?.startHeapSampling().then(
      () => true,
      () => false,
    );
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
    const retained = sampling ? await inspector?.retainedByFunction(12).catch(() => null) : null;
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
      ...(retained
        ? {
            // Sampled live heap by allocating function, per connection (V8 sampling heap profiler).
            heap_retained_by: retained.map((r) => ({ ...r, bytes_per_connection: per(r.bytes) })),
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
    inspector?.close();
    await lg?.close();
    await server.stop();
  }
}
