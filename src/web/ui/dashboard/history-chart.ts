/**
 * The deployment's last hour on a time axis: one line per gateway. Points are placed by their
 * time, not their index, because a gateway's history is per-minute points then per-second ones
 * (`src/dashboard/fleet/history.ts`) and gateways come and go.
 */

const SVG = 'http://www.w3.org/2000/svg';
const W = 1000;
const H = 220;
const PAD_L = 48;
const PAD_B = 22;

/** Line colours, one per gateway in the order of the legend (cycled past eight). */
export const PALETTE = [
  '#5b8cff',
  '#3ccf91',
  '#ff9f43',
  '#c77dff',
  '#ff5d8f',
  '#2ec4d6',
  '#f4d35e',
  '#a0a8ba',
];

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export interface ChartSeries {
  key: string;
  colour: string;
  points: { t: number; v: number | null }[];
}

/** A chart of `series` over the `spanMs` before `now`; a gap where a value is null or a gateway was silent. */
export function historyChart(
  series: ChartSeries[],
  opts: { now: number; spanMs: number; gapMs: number; format: (v: number) => string },
): SVGSVGElement {
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'history', role: 'img', id: 'fleet-chart' });
  const from = opts.now - opts.spanMs;
  const values = series.flatMap((s) => s.points.flatMap((p) => (p.v === null || p.t < from ? [] : [p.v])));
  // At least 1: an idle deployment draws flat lines at the bottom, not noise blown up to full height.
  const max = Math.max(1, ...values) * 1.1;
  const x = (t: number) => PAD_L + ((t - from) / opts.spanMs) * (W - PAD_L - 4);
  const y = (v: number) => H - PAD_B - (v / max) * (H - PAD_B - 8);
  for (const frac of [0, 0.5, 1]) {
    const gy = y(max * frac);
    root.append(svg('line', { x1: PAD_L, x2: W, y1: gy, y2: gy, class: 'grid-line' }));
    root.append(
      svg('text', { x: PAD_L - 6, y: gy + 4, 'text-anchor': 'end', class: 'axis' }, opts.format(max * frac)),
    );
  }
  const minutes = Math.round(opts.spanMs / 60_000);
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    const label = frac === 1 ? 'now' : `−${Math.round(minutes * (1 - frac))} min`;
    root.append(
      svg(
        'text',
        {
          x: x(from + frac * opts.spanMs),
          y: H - 6,
          // The last label ends at the chart's edge rather than running past it.
          'text-anchor': frac === 1 ? 'end' : 'middle',
          class: 'axis',
        },
        label,
      ),
    );
  }
  for (const s of series) {
    let run: string[] = [];
    let lastT = Number.NEGATIVE_INFINITY;
    const flush = () => {
      if (run.length > 1) {
        root.append(
          svg('polyline', { points: run.join(' '), stroke: s.colour, class: 'series', 'data-key': s.key }),
        );
      } else if (run.length === 1) {
        const [px, py] = run[0]!.split(',');
        root.append(svg('circle', { cx: px ?? 0, cy: py ?? 0, r: 2, fill: s.colour, 'data-key': s.key }));
      }
      run = [];
    };
    for (const p of s.points) {
      if (p.t < from) continue;
      // A silence longer than `gapMs` (the gateway was gone) is a gap, not a straight line across it.
      if (p.v === null || p.t - lastT > opts.gapMs) flush();
      if (p.v !== null) run.push(`${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
      lastT = p.t;
    }
    flush();
  }
  return root;
}
