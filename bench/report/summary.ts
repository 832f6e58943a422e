/**
 * From result rows to the figures the issue asks about: each target's best throughput per
 * scenario, the ratios between targets, and each stated goal marked met or missed.
 */
import { isSkipped, type ResultRow, type Row } from '../lib/context.ts';
import type { TargetName } from '../lib/targets.ts';

/** The throughput figure of a scenario: messages for 1:1 traffic, deliveries for group fan-out. */
export function throughputField(scenario: string): 'msgs_per_s' | 'deliveries_per_s' {
  return scenario === 'room' ? 'deliveries_per_s' : 'msgs_per_s';
}

function rowsOf(rows: ResultRow[], scenario: string, target: TargetName): Row[] {
  return rows.filter((r): r is Row => !isSkipped(r) && r.scenario === scenario && r.target === target);
}

/** Highest throughput achieved in any step (in the overloaded step it is the target's capacity). */
export function best(rows: ResultRow[], scenario: string, target: TargetName): Row | null {
  const f = throughputField(scenario);
  let top: Row | null = null;
  for (const r of rowsOf(rows, scenario, target)) if (top === null || (r[f] ?? 0) > (top[f] ?? 0)) top = r;
  return top;
}

/** Highest throughput among sustained steps whose p99 delivery latency met `p99Ms`. */
export function bestWithin(
  rows: ResultRow[],
  scenario: string,
  target: TargetName,
  p99Ms: number,
): Row | null {
  const f = throughputField(scenario);
  let top: Row | null = null;
  for (const r of rowsOf(rows, scenario, target)) {
    if (r.sustained !== true || r.p99_ms === null || r.p99_ms > p99Ms) continue;
    if (top === null || (r[f] ?? 0) > (top[f] ?? 0)) top = r;
  }
  return top;
}

/** The highest sustained step: where latency is read "at load". */
export function highestSustained(rows: ResultRow[], scenario: string, target: TargetName): Row | null {
  const ok = rowsOf(rows, scenario, target).filter((r) => r.sustained === true);
  return ok.length > 0 ? ok.reduce((a, r) => ((r.rate ?? 0) > (a.rate ?? 0) ? r : a)) : null;
}

export interface Ratio {
  scenario: string;
  numerator: TargetName;
  denominator: TargetName;
  basis: string;
  value: number | null;
  goal: string | null;
  met: boolean | null;
  why_null?: string;
}

function ratio(
  rows: ResultRow[],
  scenario: string,
  numerator: TargetName,
  denominator: TargetName,
  goalMin: number | null,
): Ratio {
  const f = throughputField(scenario);
  const a = best(rows, scenario, numerator)?.[f] ?? null;
  const b = best(rows, scenario, denominator)?.[f] ?? null;
  const value = a !== null && b !== null && b > 0 ? Math.round((a / b) * 100) / 100 : null;
  const skipped = rows.find(
    (r) => isSkipped(r) && r.scenario === scenario && (r.target === numerator || r.target === denominator),
  );
  return {
    scenario,
    numerator,
    denominator,
    basis: `highest ${f} achieved in any step, ${numerator} / ${denominator}`,
    value,
    goal: goalMin === null ? null : `≥ ${goalMin}`,
    met: goalMin === null || value === null ? null : value >= goalMin,
    ...(value === null
      ? {
          why_null:
            skipped && isSkipped(skipped) ? `${skipped.target} skipped: ${skipped.skipped}` : 'no figure',
        }
      : {}),
  };
}

export function ratios(rows: ResultRow[]): Ratio[] {
  return [
    ratio(rows, 'dm', 'gateway', 'baseline-socketio', 5),
    ratio(rows, 'room', 'gateway', 'baseline-socketio', 5),
    ratio(rows, 'room', 'gateway', 'bare-uws', 0.6),
    ratio(rows, 'dm', 'gateway', 'bare-uws', null),
    ratio(rows, 'dm', 'gateway-socketio', 'baseline-socketio', null),
    ratio(rows, 'room', 'gateway-socketio', 'baseline-socketio', null),
    ratio(rows, 'dm', 'baseline-socketio', 'bare-uws', null),
    ratio(rows, 'room', 'baseline-socketio', 'bare-uws', null),
  ];
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

export function goals(rows: ResultRow[], mode: string): Goal[] {
  const out: Goal[] = [];
  const idle = rows.find((r): r is Row => !isSkipped(r) && r.scenario === 'idle' && r.target === 'gateway');
  if (idle) {
    const bpc = idle.bytes_per_connection as number | null;
    out.push({
      goal: '100k idle connections on one gateway at ≤ 2 KB RSS each',
      measured: `${idle.connections} connections, ${bpc ?? '?'} B RSS each`,
      met: idle.connections >= 100_000 && bpc !== null && bpc <= 2048,
      ...(idle.connections < 100_000
        ? {
            note:
              mode === 'quick'
                ? 'quick mode holds fewer connections; the memory half of the goal is judged at this N'
                : `capped: ${String(idle.capped_by ?? 'fewer connections succeeded')}`,
          }
        : {}),
    });
  }
  const slo = (scenario: string, goalFigure: number, label: string) => {
    const f = throughputField(scenario);
    const within = bestWithin(rows, scenario, 'gateway', 20);
    const top = best(rows, scenario, 'gateway');
    if (!top) return;
    out.push({
      goal: label,
      measured:
        `${within ? `${within[f]} ${f} at p99 ${within.p99_ms} ms (offered ${within.rate}/s)` : 'no step met p99 ≤ 20 ms'}; ` +
        `highest achieved ${top[f]} ${f} (p99 ${top.p99_ms} ms)`,
      met: within !== null && (within[f] ?? 0) >= goalFigure,
    });
  };
  slo('dm', 10_000, 'in-region dm ≥ 10k acked msgs/s with Cassandra, p99 ≤ 20 ms');
  slo('room', 300_000, 'room ≥ 300k deliveries/s, p99 ≤ 20 ms');
  for (const r of ratios(rows).filter((x) => x.goal !== null)) {
    out.push({
      goal: `${r.scenario}: ${r.numerator} ${r.goal} × ${r.denominator}`,
      measured: r.value === null ? `n/a (${r.why_null})` : `${r.value}×`,
      met: r.met,
    });
  }
  return out;
}
