/**
 * The deployment section of the dashboard: every region, each gateway's figures, each region's
 * cross-region lag to its peers, and a chart of the last hour (`FleetView`, from
 * `src/dashboard/fleet/`). Keeps each gateway's history in the page, appending the latest point
 * of each per-second update to what the `hello` frame brought.
 */
import type { FleetGateway, FleetPoint, FleetView, GatewayStats } from '../../../dashboard/types.ts';
import { h } from '../dom.ts';
import { type ChartSeries, historyChart, PALETTE } from './history-chart.ts';

export interface FleetState {
  view: FleetView;
  /** `region/gatewayId` → points, oldest first. */
  histories: Map<string, FleetPoint[]>;
  metric: MetricName;
}

/** The gateway's colour in the chart, as an SVG (the page's CSP allows no inline styles). */
function swatch(colour: string): SVGSVGElement {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', 'swatch');
  svg.setAttribute('viewBox', '0 0 12 4');
  const line = document.createElementNS(NS, 'rect');
  for (const [k, v] of Object.entries({ width: 12, height: 4, rx: 1, fill: colour }))
    line.setAttribute(k, String(v));
  svg.append(line);
  return svg;
}

const keyOf = (g: { region: string; gatewayId: string }) => `${g.region}/${g.gatewayId}`;

/** What the chart can show, and how to read and print it. */
const METRICS = {
  messagesIn: { label: 'Messages in / s', read: (p: FleetPoint) => p.messagesInPerSec, unit: '' },
  connections: { label: 'Connections', read: (p: FleetPoint) => p.connections, unit: '' },
  deliveryP99: { label: 'Delivery p99 (ms)', read: (p: FleetPoint) => p.deliveryP99, unit: ' ms' },
  inboundLag: { label: 'Inbound lag (events)', read: (p: FleetPoint) => p.inboundLag, unit: '' },
  offline: { label: 'Offline queue', read: (p: FleetPoint) => p.offlineQueue, unit: '' },
} as const satisfies Record<string, { label: string; read: (p: FleetPoint) => number | null; unit: string }>;
export type MetricName = keyof typeof METRICS;

export function fleetFromHello(view: FleetView): FleetState {
  const histories = new Map<string, FleetPoint[]>();
  for (const g of view.gateways) histories.set(keyOf(g), [...(g.history ?? [g.point])]);
  return { view, histories, metric: 'messagesIn' };
}

/** Takes a per-second update: the new view, each gateway's latest point appended, the old trimmed. */
export function fleetUpdate(state: FleetState, view: FleetView): void {
  state.view = view;
  const from = view.at - view.historySec * 1000;
  for (const g of view.gateways) {
    const key = keyOf(g);
    const points = state.histories.get(key) ?? [];
    const last = points[points.length - 1];
    if (!last || g.point.t > last.t) points.push(g.point);
    while (points.length > 0 && points[0]!.t < from) points.shift();
    state.histories.set(key, points);
  }
  const kept = new Set(view.gateways.map(keyOf));
  for (const key of state.histories.keys()) if (!kept.has(key)) state.histories.delete(key);
}

const num = (v: number | null, digits = 1) => (v === null ? '–' : v.toFixed(digits));
const ms = (v: number | null) =>
  v === null ? '–' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`);
const ago = (at: number, t: number) => `${Math.max(0, Math.round((at - t) / 1000))} s ago`;

function gatewayRow(g: FleetGateway, at: number, colour: string, self: boolean): HTMLElement {
  const s = g.latest;
  return h(
    'tr',
    { class: g.state === 'live' ? '' : 'down', 'data-gateway': keyOf(g), 'data-state': g.state },
    h(
      'td',
      { class: 'mono' },
      swatch(colour),
      g.gatewayId,
      self ? h('span', { class: 'muted' }, ' (this one)') : null,
    ),
    h('td', null, h('span', { class: `state-dot ${g.state === 'live' ? 'up' : 'down'}` }), g.state),
    h('td', null, s.transport),
    h('td', { class: 'num' }, String(s.connections)),
    h('td', { class: 'num' }, num(s.messagesInPerSec)),
    h('td', { class: 'num' }, num(s.messagesOutPerSec)),
    h('td', { class: 'num' }, `${ms(s.deliveryMs.p50)} / ${ms(s.deliveryMs.p99)}`),
    h('td', { class: 'num' }, ms(s.storeMs.p99)),
    h('td', { class: 'num' }, pct(s.errorRate)),
    h('td', { class: 'num' }, String(s.offlineQueue)),
    h('td', { class: 'num' }, ago(at, g.lastHeardAt)),
  );
}

/** A region's replication lag, as its freshest live gateway reports it. */
function lagLine(region: string, stats: GatewayStats | undefined): HTMLElement {
  const r = stats?.replication;
  if (!stats) return h('p', { class: 'muted small' }, 'No live gateway: lag unknown.');
  if (!r) return h('p', { class: 'muted small' }, 'Single region: no cross-region replication.');
  return h(
    'div',
    { class: 'lag', 'data-lag-region': region },
    r.error ? h('p', { class: 'error small' }, `Link unavailable: ${r.error}`) : null,
    h('span', { class: 'muted small' }, `inbox pending ${r.inboxPending ?? '–'}`),
    ...r.peers.map((p) =>
      h(
        'span',
        { class: `lag-peer ${p.reachable ? '' : 'down'}`, 'data-peer': p.region },
        h('span', { class: `state-dot ${p.reachable ? 'up' : 'down'}` }),
        `${region} ← ${p.region}: ${p.inbound ?? '–'} in · → ${p.outbound ?? '–'} out`,
        p.inboundIdleMs === null ? '' : ` · heard ${(p.inboundIdleMs / 1000).toFixed(1)} s ago`,
      ),
    ),
  );
}

function regionBlock(region: string, st: FleetState, colours: Map<string, string>): HTMLElement {
  const v = st.view;
  const gws = v.gateways.filter((g) => g.region === region);
  const live = gws.filter((g) => g.state === 'live');
  const freshest = [...live].sort((a, b) => b.lastHeardAt - a.lastHeardAt)[0];
  const totals = live.reduce(
    (acc, g) => ({
      connections: acc.connections + g.latest.connections,
      inPerSec: acc.inPerSec + g.latest.messagesInPerSec,
    }),
    { connections: 0, inPerSec: 0 },
  );
  return h(
    'div',
    { class: `region ${live.length === 0 ? 'down' : ''}`, 'data-fleet-region': region },
    h(
      'h3',
      null,
      h('span', { class: `state-dot ${live.length > 0 ? 'up' : 'down'}` }),
      region,
      h(
        'span',
        { class: 'muted small' },
        ` · ${live.length} of ${gws.length} gateway(s) live · ${totals.connections} connections · ${num(totals.inPerSec)} msgs in/s`,
      ),
    ),
    lagLine(region, freshest?.latest),
    gws.length === 0
      ? h('p', { class: 'muted small' }, 'No gateway of this region heard in the last hour.')
      : h(
          'table',
          { class: 'small' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ...['Gateway', 'State', 'Transport'].map((t) => h('th', null, t)),
              ...[
                'Conns',
                'In/s',
                'Out/s',
                'Delivery p50/p99 ms',
                'Store p99 ms',
                'Errors',
                'Offline',
                'Heard',
              ].map((t) => h('th', { class: 'num' }, t)),
            ),
          ),
          h(
            'tbody',
            null,
            ...gws.map((g) =>
              gatewayRow(
                g,
                v.at,
                colours.get(keyOf(g)) ?? PALETTE[0]!,
                g.region === v.self.region && g.gatewayId === v.self.gatewayId,
              ),
            ),
          ),
        ),
  );
}

/** The whole section; `rerender` is called when the chart's metric changes. */
export function fleetSection(st: FleetState, rerender: () => void): HTMLElement {
  const v = st.view;
  const colours = new Map<string, string>();
  for (const [i, g] of v.gateways.entries()) colours.set(keyOf(g), PALETTE[i % PALETTE.length]!);
  const metric = METRICS[st.metric];
  const series: ChartSeries[] = v.gateways.map((g) => ({
    key: keyOf(g),
    colour: colours.get(keyOf(g))!,
    points: (st.histories.get(keyOf(g)) ?? []).map((p) => ({ t: p.t, v: metric.read(p) })),
  }));
  const live = v.gateways.filter((g) => g.state === 'live').length;
  const regionsHeard = new Set(v.gateways.filter((g) => g.state === 'live').map((g) => g.region)).size;
  const tabs = (Object.keys(METRICS) as MetricName[]).map((name) =>
    h(
      'button',
      {
        type: 'button',
        class: `tab ${name === st.metric ? 'on' : ''}`,
        'data-metric': name,
        onclick: () => {
          st.metric = name;
          rerender();
        },
      },
      METRICS[name].label,
    ),
  );
  return h(
    'section',
    { class: 'card wide', id: 'fleet' },
    h('h2', null, `Deployment — ${regionsHeard} of ${v.regions.length} region(s), ${live} gateway(s) live`),
    v.busError
      ? h('p', { class: 'error', id: 'fleet-error' }, `Not hearing the other gateways: ${v.busError}`)
      : v.bus === 'memory'
        ? h('p', { class: 'muted small' }, 'Embedded mode: this gateway is the whole deployment.')
        : null,
    ...v.regions.map((r) => regionBlock(r, st, colours)),
    h(
      'div',
      { class: 'history-card' },
      h('div', { class: 'tabs' }, h('strong', null, `Last ${Math.round(v.historySec / 60)} min`), ...tabs),
      historyChart(series, {
        now: v.at,
        spanMs: v.historySec * 1000,
        gapMs: 90_000,
        format: (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)) + metric.unit,
      }),
    ),
    h(
      'p',
      { class: 'muted small' },
      `Gateways publish every second; one silent for ${Math.round(v.goneAfterMs / 1000)} s is shown gone and kept for the hour.`,
      v.malformed > 0 ? ` ${v.malformed} unreadable stats message(s) ignored.` : '',
    ),
  );
}
