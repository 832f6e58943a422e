/**
 * Issue 12's targets (throughput per CPU), each judged met or missed from the rows of one run,
 * with the measured ratio and the steps it was read from. Server-side CPU is the target process
 * plus the services that serve it (bench/lib/context.ts, `servicesOf`).
 */
import { isSkipped, type ResultRow, type Row } from '../lib/context.ts';
import type { TargetName } from '../lib/targets.ts';
import { best } from './summary.ts';

export interface TargetResult {
  /** Short key, stable across runs, e.g. `dm.capacity`. */
  id: string;
  target: string;
  /** Measured ratio or difference, as the target states it (× or ms). */
  value: number | null;
  /** The bound the value is compared with. */
  bound: string;
  met: boolean | null;
  /** Where the figures come from (steps, rates), or why there is no figure. */
  measured: string;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const r2 = (v: number) => Math.round(v * 100) / 100;

function rowsOf(rows: ResultRow[], scenario: string, target: TargetName): Row[] {
  return rows.filter((r): r is Row => !isSkipped(r) && r.scenario === scenario && r.target === target);
}

/**
 * The step at half of a target's capacity (its highest acked msgs/s): the step whose offered
 * rate is nearest to half of it, by ratio (the ladders double, so it is within √2 of half).
 */
export function halfCapacityStep(rows: ResultRow[], scenario: string, target: TargetName): Row | null {
  const top = best(rows, scenario, target);
  const cap = num(top?.msgs_per_s);
  if (!cap) return null;
  let pick: Row | null = null;
  let dist = Number.POSITIVE_INFINITY;
  for (const r of rowsOf(rows, scenario, target)) {
    const rate = num(r.rate);
    if (!rate) continue;
    const d = Math.abs(Math.log(rate / (cap / 2)));
    if (d < dist) [pick, dist] = [r, d];
  }
  return pick;
}

/**
 * Steps to compare CPU per message at: the highest offered rate both targets sustained (the
 * same load for both), else each one's highest sustained step.
 */
function comparableSteps(
  rows: ResultRow[],
  scenario: string,
  a: TargetName,
  b: TargetName,
): { a: Row; b: Row; basis: string } | null {
  const sustained = (t: TargetName) => rowsOf(rows, scenario, t).filter((r) => r.sustained === true);
  const sa = sustained(a);
  const sb = sustained(b);
  const common = sa
    .map((r) => [r, sb.find((x) => x.rate === r.rate)] as const)
    .filter((p): p is readonly [Row, Row] => p[1] !== undefined)
    .sort((x, y) => (y[0].rate ?? 0) - (x[0].rate ?? 0))[0];
  if (common) return { a: common[0], b: common[1], basis: `both at ${common[0].rate}/s offered` };
  const top = (list: Row[]) =>
    list.reduce<Row | null>((m, r) => (m && (m.rate ?? 0) >= (r.rate ?? 0) ? m : r), null);
  const ta = top(sa);
  const tb = top(sb);
  if (!ta || !tb) return null;
  return { a: ta, b: tb, basis: `no rate sustained by both: ${a} at ${ta.rate}/s, ${b} at ${tb.rate}/s` };
}

/** Said of a capacity whose highest step was still sustained: the ladder ended before overload. */
function lowerBound(r: Row | null): string {
  return r?.sustained === true ? ', its top step sustained: a lower bound' : '';
}

function ratioTarget(
  id: string,
  target: string,
  a: number | null,
  b: number | null,
  min: number | null,
  max: number | null,
  measured: string,
  /** Capacities whose ladder ended sustained are lower bounds: a verdict they could flip is n/a. */
  lowerBounds: { a: boolean; b: boolean } = { a: false, b: false },
): TargetResult {
  const value = a !== null && b !== null && b > 0 ? r2(a / b) : null;
  const bound = min !== null ? `≥ ${min}×` : `≤ ${max}×`;
  let met = value === null ? null : min !== null ? value >= min : value <= (max ?? 0);
  // With a ≥ bound, a low numerator could be higher (missed is unsure), a low denominator could
  // be higher too (met is unsure).
  if (min !== null && ((met === false && lowerBounds.a) || (met === true && lowerBounds.b))) met = null;
  return { id, target, value, bound, met, measured: value === null ? `no figure (${measured})` : measured };
}

export function issueTargets(rows: ResultRow[]): TargetResult[] {
  const out: TargetResult[] = [];
  const GW: TargetName = 'gateway';
  const SIO: TargetName = 'baseline-socketio';
  const UWS: TargetName = 'bare-uws';

  // dm capacity
  const dmGw = best(rows, 'dm', GW);
  const dmSio = best(rows, 'dm', SIO);
  out.push(
    ratioTarget(
      'dm.capacity',
      'dm capacity ≥ 1× the Socket.IO baseline',
      num(dmGw?.msgs_per_s),
      num(dmSio?.msgs_per_s),
      1,
      null,
      `highest acked msgs/s: gateway ${dmGw?.msgs_per_s ?? '–'} (at ${dmGw?.rate ?? '–'}/s${lowerBound(dmGw)}), ` +
        `baseline ${dmSio?.msgs_per_s ?? '–'} (at ${dmSio?.rate ?? '–'}/s${lowerBound(dmSio)})`,
      { a: dmGw?.sustained === true, b: dmSio?.sustained === true },
    ),
  );

  // dm CPU per acked message
  const cmp = comparableSteps(rows, 'dm', GW, SIO);
  const cpuA = num(cmp?.a.cpu_ms_per_msg);
  const cpuB = num(cmp?.b.cpu_ms_per_msg);
  const jitFree = num(cmp?.a.cpu_ms_per_msg_without_jit);
  out.push(
    ratioTarget(
      'dm.cpu_per_msg',
      'dm server-side CPU per acked DM ≤ 1× the baseline',
      cpuA,
      cpuB,
      null,
      1,
      cmp
        ? `${cmp.basis}: gateway ${cpuA} ms (${String(cmp.a.server_services)} + process ${String(cmp.a.target_cpu_ms_per_msg)} ms; ` +
            `${jitFree} ms without Cassandra's JIT compiler threads, ratio ${cpuB ? r2((jitFree ?? 0) / cpuB) : '–'}×), ` +
            `baseline ${cpuB} ms (${String(cmp.b.server_services)} + process ${String(cmp.b.target_cpu_ms_per_msg)} ms)`
        : 'no sustained dm step for one of them',
    ),
  );

  // dm p99 at half capacity
  const half = halfCapacityStep(rows, 'dm', GW);
  const p99 = num(half?.p99_ms);
  out.push({
    id: 'dm.p99_half',
    target: 'dm p99 ≤ 20 ms at half capacity',
    value: p99,
    bound: '≤ 20 ms',
    // Half of a lower-bound capacity is too low a rate: a miss there stands, a pass may not.
    met: p99 === null ? null : p99 <= 20 ? (dmGw?.sustained === true ? null : true) : false,
    measured: half
      ? `p99 ${p99} ms at ${half.rate}/s offered (capacity ${dmGw?.msgs_per_s}/s)`
      : 'no dm figure for the gateway',
  });

  // room per CPU-second of the server process
  const roomGw = best(rows, 'room', GW);
  const roomUws = best(rows, 'room', UWS);
  const roomSio = best(rows, 'room', SIO);
  out.push(
    ratioTarget(
      'room.per_cpu',
      'room deliveries per gateway-process CPU-second ≥ 60 % of bare uWS',
      num(roomGw?.deliveries_per_target_cpu_s),
      num(roomUws?.deliveries_per_target_cpu_s),
      0.6,
      null,
      `at each one's highest-throughput step: gateway ${roomGw?.deliveries_per_target_cpu_s ?? '–'}/CPU-s ` +
        `(at ${roomGw?.rate ?? '–'}/s), bare uWS ${roomUws?.deliveries_per_target_cpu_s ?? '–'}/CPU-s ` +
        `(at ${roomUws?.rate ?? '–'}/s${roomUws?.loadgen_saturated ? ', load generator saturated' : ''})`,
    ),
  );
  out.push(
    ratioTarget(
      'room.capacity',
      'room capacity ≥ 3× the Socket.IO baseline',
      num(roomGw?.deliveries_per_s),
      num(roomSio?.deliveries_per_s),
      3,
      null,
      `highest deliveries/s: gateway ${roomGw?.deliveries_per_s ?? '–'}${lowerBound(roomGw)}, ` +
        `baseline ${roomSio?.deliveries_per_s ?? '–'}${lowerBound(roomSio)}`,
      { a: roomGw?.sustained === true, b: roomSio?.sustained === true },
    ),
  );

  // xregion
  const xr = best(rows, 'xregion', GW);
  out.push(
    ratioTarget(
      'xregion.capacity',
      'xregion capacity ≥ 50 % of in-region dm capacity',
      num(xr?.msgs_per_s),
      num(dmGw?.msgs_per_s),
      0.5,
      null,
      `highest acked msgs/s: xregion ${xr?.msgs_per_s ?? '–'} (at ${xr?.rate ?? '–'}/s${lowerBound(xr)}), ` +
        `dm ${dmGw?.msgs_per_s ?? '–'}${lowerBound(dmGw)}`,
      { a: xr?.sustained === true, b: dmGw?.sustained === true },
    ),
  );
  const xHalf = halfCapacityStep(rows, 'xregion', GW);
  const xp = num(xHalf?.p99_ms);
  const diff = xp !== null && p99 !== null ? r2(xp - p99) : null;
  out.push({
    id: 'xregion.p99_half',
    target: 'xregion p99 within 10 ms of in-region p99 at half capacity',
    value: diff,
    bound: '≤ +10 ms',
    met: diff === null ? null : diff <= 10 ? (xr?.sustained === true ? null : true) : false,
    measured:
      diff === null
        ? 'no figure (xregion or dm missing)'
        : `each at its own half capacity: xregion p99 ${xp} ms at ${xHalf?.rate}/s, dm p99 ${p99} ms at ${half?.rate}/s`,
  });

  // idle
  const idle = rows.find((r): r is Row => !isSkipped(r) && r.scenario === 'idle' && r.target === GW);
  const afterGc = num(idle?.rss_bytes_per_connection_after_gc);
  const raw = num(idle?.bytes_per_connection);
  out.push({
    id: 'idle.after_gc',
    target: 'idle ≤ 2 KB RSS per connection after a forced GC',
    value: afterGc,
    bound: '≤ 2048 B',
    met: afterGc === null ? null : afterGc <= 2048,
    measured: idle
      ? `${afterGc} B at ${idle.connections} connections (${r2((afterGc ?? 0) / 2048)}× the bound)`
      : 'no idle row',
  });
  out.push({
    id: 'idle.without_gc',
    target: 'idle ≤ 4 KB RSS per connection without a forced GC',
    value: raw,
    bound: '≤ 4096 B',
    met: raw === null ? null : raw <= 4096,
    measured: idle
      ? `${raw} B at ${idle.connections} connections (${r2((raw ?? 0) / 4096)}× the bound)`
      : 'no idle row',
  });
  return out;
}

/** The measured value with the unit its bound is in (×, ms or B). */
export function formatValue(t: TargetResult): string {
  if (t.value === null) return '–';
  const unit = t.bound.endsWith('×') ? '×' : t.bound.endsWith('ms') ? ' ms' : ' B';
  return `${t.value}${unit}`;
}

/** One line per target, for the console. */
export function targetLine(t: TargetResult): string {
  const verdict = t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED';
  return `[${verdict}] ${t.target}: ${formatValue(t)} (${t.bound}) — ${t.measured}`;
}
