/**
 * The live operations dashboard (bundled to /assets/dashboard.js). Takes the operator token from
 * `#token=…` (then forgets it from the address bar; it stays in this tab's sessionStorage) or a
 * form, checks it with `/dashboard/check`, and renders a sample per second from
 * `/dashboard/ws`: the whole deployment first (`fleet-view.ts`), then this gateway in detail.
 * Reconnects by itself when the gateway restarts.
 */
import type {
  DashboardFrame,
  DashboardSample,
  DashboardSettings,
  PeerBacklog,
} from '../../../dashboard/types.ts';
import { $, h } from '../dom.ts';
import { type FleetState, fleetFromHello, fleetSection, fleetUpdate } from './fleet-view.ts';
import { sparkline } from './sparkline.ts';

const TOKEN_KEY = 'globalchat:operatorToken';
const KEEP = 120;

const root = $('#dash');

interface State {
  region: string;
  gatewayId: string;
  multiRegion: boolean;
  config: DashboardSettings;
  samples: DashboardSample[];
  fleet: FleetState;
  live: boolean;
  since: number;
}

let state: State | null = null;
let retryMs = 1000;

function takeTokenFromUrl(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

function tokenForm(message: string | null): void {
  const input = h('input', {
    id: 'token',
    type: 'password',
    placeholder: 'Operator token',
    autocomplete: 'current-password',
    required: true,
  });
  root.replaceChildren(
    h(
      'div',
      { class: 'center' },
      h(
        'form',
        {
          class: 'card login',
          id: 'token-form',
          onsubmit: (e: Event) => {
            e.preventDefault();
            sessionStorage.setItem(TOKEN_KEY, input.value.trim());
            void connect();
          },
        },
        h('h1', null, 'Operations dashboard'),
        h(
          'p',
          { class: 'muted' },
          'Enter the operator token (auth.operatorToken; npm start prints a link that carries it).',
        ),
        input,
        h('button', { type: 'submit', class: 'primary' }, 'Open dashboard'),
        message ? h('p', { class: 'error', role: 'alert' }, message) : null,
      ),
    ),
  );
  input.focus();
}

async function connect(): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    tokenForm(null);
    return;
  }
  let status: number;
  try {
    status = (
      await fetch('/dashboard/check', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' })
    ).status;
  } catch {
    scheduleRetry();
    return;
  }
  if (status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenForm('That token was refused.');
    return;
  }
  if (status === 404) {
    root.replaceChildren(
      h(
        'div',
        { class: 'center' },
        h(
          'div',
          { class: 'card login' },
          h('h1', null, 'Dashboard disabled'),
          h('p', { class: 'muted' }, 'This gateway has no auth.operatorToken configured.'),
        ),
      ),
    );
    return;
  }
  if (status !== 204) {
    scheduleRetry();
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/dashboard/ws?token=${encodeURIComponent(token)}`);
  ws.addEventListener('message', (event) => {
    const frame = JSON.parse(String(event.data)) as DashboardFrame;
    if (frame.type === 'hello') {
      retryMs = 1000;
      state = {
        region: frame.region,
        gatewayId: frame.gatewayId,
        multiRegion: frame.multiRegion,
        config: frame.config,
        samples: frame.history.slice(-KEEP),
        // The chart's metric survives a reconnect.
        fleet: { ...fleetFromHello(frame.fleet), metric: state?.fleet.metric ?? 'messagesIn' },
        live: true,
        since: Date.now(),
      };
    } else if (state) {
      state.samples.push(frame.sample);
      if (state.samples.length > KEEP) state.samples.shift();
      fleetUpdate(state.fleet, frame.fleet);
    }
    render();
  });
  ws.addEventListener('close', () => {
    if (state) {
      state.live = false;
      render();
    }
    scheduleRetry();
  });
}

function scheduleRetry(): void {
  if (state) {
    state.live = false;
    render();
  } else {
    root.replaceChildren(h('div', { class: 'center muted' }, 'Gateway unreachable, retrying…'));
  }
  setTimeout(() => void connect(), retryMs);
  retryMs = Math.min(5000, retryMs * 2);
}

// ---- rendering ---------------------------------------------------------------------------

const fmt = (v: number | null, digits = 1) => (v === null ? '–' : v.toFixed(digits));
const ms = (v: number | null) =>
  v === null ? '–' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`);

function card(
  id: string,
  title: string,
  value: (Node | string)[],
  chart: SVGSVGElement | null,
  extra: Node | null = null,
  level: 'ok' | 'bad' = 'ok',
): HTMLElement {
  return h(
    'section',
    { class: `card metric ${level}`, id },
    h('h2', null, title),
    h('div', { class: 'value', 'data-value': '' }, ...value),
    chart,
    extra,
  );
}

/**
 * Migrations under way (absent when there is none): the store migration's phase and progress, and
 * home-region moves by phase. The runbooks in docs/operations.md say what each figure should do.
 */
function migrationsCard(s: DashboardSample): HTMLElement | string {
  const { store, homeMoves } = s.migrations;
  const moves = Object.entries(homeMoves?.byPhase ?? {}).filter(([, n]) => n > 0);
  if (!store && moves.length === 0 && (homeMoves?.running ?? 0) === 0) return '';
  const lines: HTMLElement[] = [];
  if (store) {
    lines.push(
      h(
        'p',
        { 'data-migration': 'store' },
        `Store migration: phase ${store.phase} · backfill ${store.conversations} conversations, ` +
          `${store.messages} messages${store.finished ? ' (finished)' : ''}`,
      ),
      h(
        'p',
        { class: 'muted small' },
        `compared reads ${store.compared} · disagreements ${store.disagreements} · ` +
          `writes not mirrored ${store.notMirrored} (since this gateway started)`,
      ),
    );
  }
  if (homeMoves && (moves.length > 0 || homeMoves.running > 0)) {
    lines.push(
      h(
        'p',
        { 'data-migration': 'home' },
        `Home-region moves: ${moves.map(([phase, n]) => `${n} ${phase}`).join(' · ') || 'none recorded'}` +
          ` · ${homeMoves.running} driven by this gateway`,
      ),
    );
  }
  const bad = (store?.notMirrored ?? 0) > 0 || (homeMoves?.byPhase.failed ?? 0) > 0;
  return h(
    'section',
    { class: `card wide ${bad ? 'bad' : 'ok'}`, id: 'migrations' },
    h('h2', null, 'Migrations'),
    ...lines,
  );
}

/** Webhook delivery: rate, lag and dead letters (absent when no endpoint is configured). */
function webhooksCard(s: DashboardSample, st: State): HTMLElement | string {
  const w = s.webhooks;
  if (!w) return '';
  const series = (f: (x: NonNullable<DashboardSample['webhooks']>) => number | null) =>
    st.samples.map((x) => (x.webhooks ? f(x.webhooks) : null));
  return card(
    'webhooks',
    'Webhooks',
    [
      h('span', null, fmt(w.deliveredPerSec)),
      h('small', { class: 'a' }, ' delivered/s · '),
      h('span', null, ms(w.lagMs.p99)),
      h('small', { class: 'c' }, ' p99 lag ms · '),
      h('span', null, String(w.deadLetters)),
      h('small', null, ' dead'),
    ],
    sparkline([series((x) => x.deliveredPerSec), series((x) => x.failedPerSec)], { classes: ['a', 'c'] }),
    h(
      'p',
      { class: 'muted small' },
      `${fmt(w.failedPerSec)} failed attempts/s · ${w.queueDepth} queued in the region · lag p50 ${ms(w.lagMs.p50)} ms`,
    ),
    w.deadLetters > 0 ? 'bad' : 'ok',
  );
}

function regionsCard(s: DashboardSample, st: State): HTMLElement {
  if (!s.regions) {
    return h(
      'section',
      { class: 'card wide', id: 'regions' },
      h('h2', null, 'Cross-region replication'),
      h('p', { class: 'single' }, 'Single region — no cross-region replication configured.'),
    );
  }
  const b = s.regions.backlog;
  const row = (p: PeerBacklog) =>
    h(
      'tr',
      { class: p.reachable ? '' : 'down', 'data-region': p.region },
      h('td', null, h('span', { class: `state-dot ${p.reachable ? 'up' : 'down'}` }), p.region),
      h('td', null, p.reachable ? 'reachable' : 'unreachable'),
      h('td', { class: 'num' }, p.inbound === null ? '–' : String(p.inbound)),
      h('td', { class: 'num' }, p.outbound === null ? '–' : String(p.outbound)),
      h('td', { class: 'num' }, p.inboundIdleMs === null ? '–' : `${(p.inboundIdleMs / 1000).toFixed(1)} s`),
      h('td', { class: 'err' }, p.error ?? ''),
    );
  return h(
    'section',
    { class: 'card wide', id: 'regions' },
    h('h2', null, `Cross-region replication — ${st.region}`),
    s.regions.error ? h('p', { class: 'error' }, `Link unavailable: ${s.regions.error}`) : null,
    h(
      'p',
      { class: 'muted' },
      `Inbox waiting to be applied: ${b?.inboxPending ?? '–'}`,
      s.regions.readAt ? ` · read ${Math.max(0, Math.round((s.t - s.regions.readAt) / 1000))} s ago` : '',
    ),
    h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, 'Region'),
          h('th', null, 'State'),
          h(
            'th',
            { class: 'num', title: "Events in that region's outbox for us, not yet in our inbox" },
            'Inbound lag',
          ),
          h(
            'th',
            { class: 'num', title: 'Events in our outbox for that region, not yet in its inbox' },
            'Outbound lag',
          ),
          h('th', { class: 'num' }, 'Last heard'),
          h('th', null, ''),
        ),
      ),
      h('tbody', null, ...(b?.peers ?? []).map(row)),
    ),
  );
}

function errorsTable(s: DashboardSample): HTMLElement {
  const codes = Object.entries(s.errorsPerSec).sort((a, b) => b[1] - a[1]);
  if (codes.length === 0) return h('p', { class: 'muted small' }, 'No errors in the window');
  return h(
    'table',
    { class: 'small' },
    h(
      'tbody',
      null,
      ...codes.map(([code, rate]) =>
        h('tr', null, h('td', null, code), h('td', { class: 'num' }, `${rate.toFixed(2)}/s`)),
      ),
    ),
  );
}

function render(): void {
  const st = state;
  if (!st) return;
  const s = st.samples[st.samples.length - 1];
  const series = <T>(f: (x: DashboardSample) => T) => st.samples.map(f);
  const alerts = s?.alerts ?? [];
  const head = h(
    'header',
    { class: 'top' },
    h(
      'div',
      { class: 'brand' },
      h('img', { class: 'logo', src: '/assets/favicon.svg', alt: '' }),
      'globalchat ',
      h('span', { class: 'muted' }, 'operations'),
    ),
    h(
      'div',
      { class: 'where' },
      h('span', { class: 'pill' }, `region ${st.region}`),
      h('span', { class: 'pill mono', title: 'gateway' }, st.gatewayId),
      h(
        'span',
        { class: `pill ${st.live ? 'live' : 'stale'}`, id: 'live' },
        st.live ? '● live' : '○ reconnecting…',
      ),
      s
        ? h('span', { class: 'muted', id: 'updated' }, `updated ${new Date(s.t).toLocaleTimeString()}`)
        : null,
    ),
  );
  const banner = h(
    'div',
    { class: 'alerts', id: 'alerts', role: 'alert', hidden: alerts.length === 0 },
    ...alerts.map((a) => h('div', { class: `alert ${a.kind}` }, h('strong', null, '⚠ '), a.message)),
  );
  if (!s) {
    root.replaceChildren(
      head,
      banner,
      fleetSection(st.fleet, render),
      h('p', { class: 'muted center' }, 'Waiting for the first sample…'),
    );
    return;
  }
  const cfg = st.config;
  const errorLevel = s.errorRate !== null && s.errorRate > cfg.errorRateAlert ? 'bad' : 'ok';
  const grid = h(
    'div',
    { class: 'grid' },
    card(
      'connections',
      'Connections',
      [String(s.connections)],
      sparkline([series((x) => x.connections)], { classes: ['a'] }),
    ),
    card(
      'msgs-in',
      'Messages in / s',
      [fmt(s.messagesInPerSec)],
      sparkline([series((x) => x.messagesInPerSec)], { classes: ['a'] }),
      h('p', { class: 'muted small' }, `${s.totals.messagesStored} stored since start`),
    ),
    card(
      'msgs-out',
      'Messages out / s',
      [fmt(s.messagesOutPerSec)],
      sparkline([series((x) => x.messagesOutPerSec)], { classes: ['b'] }),
      h('p', { class: 'muted small' }, `${s.totals.messagesDelivered} delivered since start`),
    ),
    card(
      'delivery',
      'Delivery latency',
      [
        h('span', null, ms(s.deliveryMs.p50)),
        h('small', { class: 'a' }, ' p50 · '),
        h('span', null, ms(s.deliveryMs.p99)),
        h('small', { class: 'c' }, ' p99 ms'),
      ],
      sparkline([series((x) => x.deliveryMs.p50), series((x) => x.deliveryMs.p99)], { classes: ['a', 'c'] }),
      h(
        'p',
        { class: 'muted small' },
        `stamped at the sender → written to the socket · last ${cfg.windowSec} s`,
      ),
    ),
    card(
      'store',
      'Store latency',
      [
        h('span', null, ms(s.storeMs.p50)),
        h('small', { class: 'a' }, ' p50 · '),
        h('span', null, ms(s.storeMs.p99)),
        h('small', { class: 'c' }, ' p99 ms'),
      ],
      sparkline([series((x) => x.storeMs.p50), series((x) => x.storeMs.p99)], { classes: ['a', 'c'] }),
      h('p', { class: 'muted small' }, `durable write before the ack · last ${cfg.windowSec} s`),
    ),
    card(
      'errors',
      'Error rate',
      [pct(s.errorRate)],
      sparkline([series((x) => x.errorRate)], {
        classes: ['c'],
        threshold: cfg.errorRateAlert,
        minMax: cfg.errorRateAlert,
      }),
      h(
        'div',
        null,
        h(
          'p',
          { class: 'muted small' },
          `alert above ${pct(cfg.errorRateAlert)} · ${s.requestsInWindow} requests in ${cfg.windowSec} s`,
        ),
        errorsTable(s),
      ),
      errorLevel,
    ),
    card(
      'offline',
      'Offline queue',
      [String(s.offlineQueue)],
      sparkline([series((x) => x.offlineQueue)], { classes: ['b'] }),
      h('p', { class: 'muted small' }, 'entries queued − acked since this gateway started'),
    ),
    regionsCard(s, st),
    webhooksCard(s, st),
    migrationsCard(s),
  );
  root.replaceChildren(
    head,
    banner,
    fleetSection(st.fleet, render),
    h('h2', { class: 'section-title' }, `This gateway — ${st.region} · ${st.gatewayId}`),
    grid,
  );
}

takeTokenFromUrl();
void connect();
