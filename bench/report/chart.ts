/**
 * Draws a run's results as one SVG: for each scenario, grouped bars per target — throughput
 * (its highest achieved) on the top row, p99 delivery latency at its highest sustained step on
 * the bottom row; for `idle`, resident bytes per connection and connects per second. Each panel
 * has its own linear scale and prints the value on every bar, so a target far ahead of the
 * others does not flatten them into nothing.
 *
 *   npx tsx bench/report/chart.ts bench/results/latest.json > bench/results/latest.svg
 */
import { readFileSync } from 'node:fs';
import { isSkipped, type ResultRow, type Row } from '../lib/context.ts';
import { TARGETS, type TargetName } from '../lib/targets.ts';
import { best, highestSustained, throughputField } from './summary.ts';

const COLORS: Record<TargetName, string> = {
  gateway: '#2563eb',
  'gateway-socketio': '#7c3aed',
  'baseline-socketio': '#ea580c',
  'bare-uws': '#6b7280',
};

interface Bar {
  target: TargetName;
  value: number | null;
  /** Shown instead of a bar when there is no value (skipped, failed, not measured). */
  missing?: string;
  /** Small print under the bar (e.g. the offered rate of the step it comes from). */
  note?: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (v >= 100) return String(Math.round(v));
  return String(Math.round(v * 10) / 10);
}

function panel(x: number, y: number, w: number, h: number, title: string, bars: Bar[]): string {
  const top = Math.max(1, ...bars.map((b) => b.value ?? 0));
  const plotTop = y + 28;
  const plotH = h - 62;
  const slot = w / bars.length;
  const bw = Math.min(44, slot * 0.6);
  const parts = [
    `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="#fff" stroke="#e5e7eb"/>`,
    `<text x="${x + w / 2}" y="${y + 18}" text-anchor="middle" font-size="13" font-weight="600">${esc(title)}</text>`,
    `<line x1="${x + 8}" y1="${plotTop + plotH}" x2="${x + w - 8}" y2="${plotTop + plotH}" stroke="#9ca3af"/>`,
  ];
  bars.forEach((b, i) => {
    const cx = x + slot * i + slot / 2;
    if (b.note) {
      parts.push(
        `<text x="${cx}" y="${plotTop + plotH + 14}" text-anchor="middle" font-size="9" fill="#6b7280">${esc(b.note)}</text>`,
      );
    }
    if (b.value === null) {
      parts.push(
        `<text x="${cx}" y="${plotTop + plotH - 6}" text-anchor="middle" font-size="10" fill="#9ca3af">${esc(b.missing ?? 'n/a')}</text>`,
      );
    } else {
      const bh = Math.max(1, (b.value / top) * (plotH - 14));
      parts.push(
        `<rect x="${cx - bw / 2}" y="${plotTop + plotH - bh}" width="${bw}" height="${bh}" fill="${COLORS[b.target]}"/>`,
        `<text x="${cx}" y="${plotTop + plotH - bh - 4}" text-anchor="middle" font-size="11">${fmt(b.value)}</text>`,
      );
    }
  });
  return parts.join('\n');
}

function missingLabel(rows: ResultRow[], scenario: string, target: TargetName): string {
  const r = rows.find((x) => x.scenario === scenario && x.target === target);
  if (!r) return scenario === 'xregion' ? '—' : 'not run';
  if (isSkipped(r)) return 'skipped';
  return 'n/a';
}

export function renderChart(result: {
  rows: ResultRow[];
  mode: string;
  finished: string;
  machine?: unknown;
}): string {
  const { rows } = result;
  const scenarios = ['dm', 'room', 'xregion'] as const;
  const W = 260;
  const H = 210;
  const gap = 12;
  const cols = scenarios.length + 1;
  const width = cols * W + (cols + 1) * gap;
  const height = 2 * H + 3 * gap + 70;
  const out: string[] = [];
  scenarios.forEach((scenario, c) => {
    const x = gap + c * (W + gap);
    const f = throughputField(scenario);
    const thr: Bar[] = TARGETS.map((t) => {
      const r = best(rows, scenario, t);
      return {
        target: t,
        value: r ? (r[f] ?? null) : null,
        missing: missingLabel(rows, scenario, t),
        ...(r ? { note: `offered ${fmt(r.rate ?? 0)}/s` } : {}),
      };
    });
    const lat: Bar[] = TARGETS.map((t) => {
      const r = highestSustained(rows, scenario, t);
      return {
        target: t,
        value: r?.p99_ms ?? null,
        ...(r ? { note: `at ${fmt(r.rate ?? 0)}/s` } : {}),
        missing: r
          ? 'n/a'
          : rows.some((x) => x.scenario === scenario && x.target === t && !isSkipped(x))
            ? 'none sustained'
            : missingLabel(rows, scenario, t),
      };
    });
    const unit = f === 'msgs_per_s' ? 'acked msgs/s, highest' : 'deliveries/s, highest';
    out.push(panel(x, 60, W, H, `${scenario}: ${unit}`, thr));
    out.push(panel(x, 60 + H + gap, W, H, `${scenario}: p99 ms, top sustained step`, lat));
  });
  const ix = gap + scenarios.length * (W + gap);
  const idleRow = (t: TargetName) =>
    rows.find((r): r is Row => !isSkipped(r) && r.scenario === 'idle' && r.target === t) ?? null;
  out.push(
    panel(
      ix,
      60,
      W,
      H,
      'idle: RSS bytes per connection',
      TARGETS.map((t) => ({
        target: t,
        value: (idleRow(t)?.bytes_per_connection as number | null | undefined) ?? null,
        missing: missingLabel(rows, 'idle', t),
      })),
    ),
    panel(
      ix,
      60 + H + gap,
      W,
      H,
      'idle: connects per second',
      TARGETS.map((t) => ({
        target: t,
        value: (idleRow(t)?.connect_per_s as number | undefined) ?? null,
        missing: missingLabel(rows, 'idle', t),
      })),
    ),
  );
  const legend = TARGETS.map(
    (t, i) =>
      `<rect x="${gap + i * 190}" y="${height - 28}" width="12" height="12" fill="${COLORS[t]}"/>` +
      `<text x="${gap + i * 190 + 18}" y="${height - 18}" font-size="12">${t}</text>`,
  ).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">
<rect width="100%" height="100%" fill="#f9fafb"/>
<text x="${gap}" y="26" font-size="16" font-weight="700">globalchat load benchmark — ${esc(result.mode)} mode, ${esc(result.finished)}</text>
<text x="${gap}" y="46" font-size="11" fill="#4b5563">one server process per target on the same 2-core machine as the load generator; open-loop fixed rates; latency = send time in the body → receipt</text>
${out.join('\n')}
${legend}
</svg>
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? 'bench/results/latest.json';
  process.stdout.write(renderChart(JSON.parse(readFileSync(file, 'utf8'))));
}
