/** Inline SVG sparklines: one polyline per series, gaps where a value is null. */

const SVG = 'http://www.w3.org/2000/svg';
const W = 240;
const H = 56;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export interface SparkOptions {
  /** One CSS class per series (colours come from the stylesheet). */
  classes: string[];
  /** A dashed horizontal line (an alert threshold). */
  threshold?: number;
  /** The y axis starts at 0 and ends at least here. */
  minMax?: number;
}

export function sparkline(series: (number | null)[][], opts: SparkOptions): SVGSVGElement {
  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    class: 'spark',
    role: 'img',
  });
  const values = series.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const max = Math.max(opts.minMax ?? 1e-9, opts.threshold ?? 0, ...values) * 1.1;
  const n = Math.max(2, ...series.map((s) => s.length));
  const x = (i: number) => (i / (n - 1)) * W;
  const y = (v: number) => H - 2 - (v / max) * (H - 4);
  if (opts.threshold !== undefined) {
    const ty = y(opts.threshold);
    root.append(svg('line', { x1: 0, x2: W, y1: ty, y2: ty, class: 'threshold' }));
  }
  series.forEach((s, k) => {
    const offset = n - s.length;
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1)
        root.append(svg('polyline', { points: run.join(' '), class: `line ${opts.classes[k] ?? ''}` }));
      else if (run.length === 1) {
        const [px, py] = run[0]!.split(',');
        root.append(
          svg('circle', { cx: px ?? 0, cy: py ?? 0, r: 1.5, class: `dot ${opts.classes[k] ?? ''}` }),
        );
      }
      run = [];
    };
    s.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) flush();
      else run.push(`${x(i + offset).toFixed(1)},${y(v).toFixed(1)}`);
    });
    flush();
  });
  return root;
}
