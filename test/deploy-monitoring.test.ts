/**
 * deploy/monitoring/: the Grafana dashboard is valid JSON with a query in every panel, the
 * Prometheus rules parse and every alert has its expr, for, labels and annotations, and every
 * metric either of them names is served on a running gateway's /metrics (embedded, so series that
 * only have samples with replication or traffic count by their `# TYPE` line). `up` is the one
 * exception: Prometheus records it per scrape target.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startTestGateway, TEST_SECRET, type TestGateway, testConfig } from './helpers/gateway.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIR = path.join(ROOT, 'deploy/monitoring');
const OPERATOR_TOKEN = 'monitoring-test-operator-token';
/** Series Prometheus itself records for every target. */
const PROMETHEUS_SERIES = new Set(['up']);

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads: identifiers left after removing strings, label
 * matchers, ranges, grouping clauses and Grafana variables, that are not function calls.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] || PROMQL_KEYWORDS.has(m[1]!.toLowerCase())) continue;
    names.add(m[1]!);
  }
  return [...names];
}

/** Every series name a /metrics text can produce: its samples, and each `# TYPE` with its suffixes. */
function servedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}

interface Panel {
  type: string;
  title: string;
  id: number;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string }[];
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard = JSON.parse(readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
};
const rules = parseYaml(readFileSync(path.join(DIR, 'alerts.yaml'), 'utf8')) as {
  groups: { name: string; rules: Rule[] }[];
};

describe('monitoring files (deploy/monitoring)', () => {
  let gw: TestGateway;
  let served: Set<string>;
  let migrationDir: string;

  before(async () => {
    // With a store migration configured (to another embedded store), a webhook endpoint (no event
    // is sent to it) and the server API on, so that their series exist.
    migrationDir = await mkdtemp(path.join(tmpdir(), 'chat-monitoring-mig-'));
    gw = await startTestGateway({
      config: testConfig(
        { storeMigration: { to: { dataDir: migrationDir } } },
        {
          auth: { secret: TEST_SECRET, devTokens: true, operatorToken: OPERATOR_TOKEN },
          webhooks: {
            endpoints: [
              {
                name: 'push',
                url: 'http://127.0.0.1:9/hook',
                secret: 'monitoring-webhook-secret',
                events: ['message.offline'],
              },
            ],
          },
          api: { keys: { ops: 'monitoring-test-api-key-0123456789' } },
        },
      ),
    });
    const res = await fetch(`${gw.httpUrl}/metrics`, {
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
    });
    assert.equal(res.status, 200);
    served = servedNames(await res.text());
  });
  after(async () => {
    await gw?.stop();
    await rm(migrationDir, { recursive: true, force: true });
  });

  it('reads metric names out of PromQL', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (region, le) (rate(a_bucket{code=~"x|y"}[$__rate_interval]))) / clamp_min(b, 1) > 0.5 and on (pod) c_total offset 5m',
      ).sort(),
      ['a_bucket', 'b', 'c_total'],
    );
  });

  it('the dashboard: valid JSON, a query in every panel, panels on the grid', () => {
    assert.equal(dashboard.uid, 'globalchat');
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    assert.ok(graphs.length >= 10);
    const ids = new Set(dashboard.panels.map((p) => p.id));
    assert.equal(ids.size, dashboard.panels.length, 'panel ids are unique');
    for (const p of graphs) {
      assert.ok(p.title, 'a title');
      assert.ok(p.targets && p.targets.length > 0, `${p.title}: a query`);
      for (const t of p.targets) assert.ok(t.expr.trim(), `${p.title}: ${t.refId} has an expression`);
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: within the 24 columns`);
    }
    // What the dashboard is for: a panel on each of these.
    const exprs = graphs.flatMap((p) => p.targets?.map((t) => t.expr) ?? []).join('\n');
    for (const series of [
      'chat_connections',
      'chat_messages_stored_total',
      'chat_store_latency_seconds_bucket',
      'chat_delivery_latency_seconds_bucket',
      'chat_replication_inbound_backlog',
      'chat_replication_outbound_backlog',
      'chat_offline_enqueued_total',
      'chat_backend_up',
    ]) {
      assert.ok(exprs.includes(series), `a panel on ${series}`);
    }
  });

  it('the alert rules: parse, and each alert has expr, for, labels and annotations', () => {
    const alerts = rules.groups.flatMap((g) => g.rules);
    assert.ok(alerts.length >= 8);
    const names = new Set<string>();
    for (const r of alerts) {
      assert.ok(r.alert, 'an alerting rule (no recording rules here)');
      assert.ok(!names.has(r.alert), `${r.alert} is unique`);
      names.add(r.alert);
      assert.ok(r.expr?.trim(), `${r.alert}: expr`);
      assert.match(r.for ?? '', /^\d+[smh]$/, `${r.alert}: for`);
      assert.ok(
        ['critical', 'warning', 'info'].includes(r.labels?.severity ?? ''),
        `${r.alert}: labels.severity`,
      );
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: annotations`);
    }
    for (const required of [
      'ChatGatewayDown',
      'ChatGatewayNotReady',
      'ChatReplicationBacklog',
      'ChatReplicationStalled',
      'ChatServerErrors',
    ]) {
      assert.ok(names.has(required), required);
    }
  });

  it('names only metrics a gateway serves on /metrics', () => {
    const used = new Map<string, string>();
    for (const p of dashboard.panels)
      for (const t of p.targets ?? []) for (const n of metricNames(t.expr)) used.set(n, `panel "${p.title}"`);
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const m = q ? /label_values\((\w+)/.exec(q) : null;
      if (m) used.set(m[1]!, `variable ${v.name}`);
    }
    for (const g of rules.groups)
      for (const r of g.rules) for (const n of metricNames(r.expr)) used.set(n, `alert ${r.alert}`);
    assert.ok(used.size >= 20, `${used.size} metrics found in the files`);
    const missing = [...used].filter(([n]) => !served.has(n) && !PROMETHEUS_SERIES.has(n));
    assert.deepEqual(missing, [], 'metrics not on /metrics');
  });
});
