/**
 * Prints a results file as Markdown tables, for docs/benchmarks.md (so figures are pasted from
 * the JSON, never retyped).
 *
 *   npx tsx bench/report/markdown.ts bench/results/latest.json [--summary]
 */
import { readFileSync } from 'node:fs';
import { isSkipped, type ResultRow, type Row } from '../lib/context.ts';
import { TARGETS } from '../lib/targets.ts';
import type { StorageProbeResult } from '../scenarios/storage-probe.ts';
import { best, type Goal, highestSustained, type Ratio, throughputField } from './summary.ts';
import { formatValue, type TargetResult } from './targets.ts';

interface ResultFile {
  mode: string;
  started: string;
  duration_s: number;
  code?: { commit: string; src_dirty: string[] };
  machine: {
    nproc: number;
    memTotalBytes: number;
    cpuModel: string;
    node: string;
    load_average_before?: number[];
    load_average_after?: number[];
  };
  storage_probe?: StorageProbeResult | null;
  rows: ResultRow[];
  ratios: Ratio[];
  goals: Goal[];
  /** Issue 12's targets; absent in results written before it. */
  targets?: TargetResult[];
}

const n = (v: unknown, digits = 0): string =>
  typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: digits }) : '–';

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/**
 * One line per (scenario, target): the highest throughput reached, and the latency at the
 * highest step it sustained.
 */
/**
 * Server-side CPU of a step (target process + its services): per acked message for 1:1 traffic,
 * per delivery and deliveries per CPU-second of the process alone for group fan-out.
 */
function cpuCell(x: Row, scenario: string): string {
  // Results written before these figures existed have none.
  if (x.server_side_cpu_s === undefined) return '–';
  if (scenario === 'room') {
    return `${n(x.cpu_us_per_delivery, 1)} µs/delivery; ${n(x.deliveries_per_target_cpu_s)} deliveries per process CPU-s`;
  }
  const jit = typeof x.cassandra_jit_cpu_s === 'number' && x.cassandra_jit_cpu_s > 0;
  return (
    `${n(x.cpu_ms_per_msg, 3)} ms/msg (process ${n(x.target_cpu_ms_per_msg, 3)})` +
    (jit ? `; ${n(x.cpu_ms_per_msg_without_jit, 3)} without Cassandra's JIT` : '')
  );
}

export function summaryMarkdown(r: ResultFile): string {
  const done = r.rows.filter((x): x is Row => !isSkipped(x));
  const lines: string[][] = [];
  for (const scenario of ['dm', 'room', 'xregion']) {
    for (const target of TARGETS) {
      const rows = done.filter((x) => x.scenario === scenario && x.target === target);
      if (rows.length === 0) continue;
      const top = best(r.rows, scenario, target)!;
      const sus = highestSustained(r.rows, scenario, target);
      const f = throughputField(scenario);
      const flags = rows.filter((x) => x.contended).length;
      lines.push([
        scenario,
        target,
        `${n(top[f])} ${f === 'msgs_per_s' ? 'msgs/s' : 'deliveries/s'} (offered ${n(top.rate)}/s)`,
        sus
          ? `${n(sus[f])} at ${n(sus.rate)}/s: p50 ${n(sus.p50_ms, 1)}, p99 ${n(sus.p99_ms, 1)} ms`
          : 'none',
        sus ? cpuCell(sus, scenario) : '–',
        `${flags} of ${rows.length}`,
        rows.some((x) => x.loadgen_saturated) ? 'yes' : '',
      ]);
    }
  }
  return `${table(
    [
      'scenario',
      'target',
      'highest throughput',
      'highest sustained step',
      'server-side CPU there',
      'contended steps',
      'load generator saturated',
    ],
    lines,
  )}\n`;
}

export function toMarkdown(r: ResultFile): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `Run: ${r.mode} mode, ${r.started}, ${r.duration_s} s; commit ${r.code?.commit.slice(0, 10) ?? '?'}` +
      `${r.code && r.code.src_dirty.length > 0 ? ` (+ uncommitted changes in ${r.code.src_dirty.length} src files)` : ''}; ` +
      `${m.nproc} × ${m.cpuModel}, ${Math.round(m.memTotalBytes / 2 ** 30)} GiB, Node ${m.node}; ` +
      `load average ${m.load_average_before?.[0] ?? '?'} before, ${m.load_average_after?.[0] ?? '?'} after.`,
  );
  const p = r.storage_probe;
  if (p) {
    out.push(
      '',
      `**Cassandra alone** (\`CassandraStorage.appendMessage\`, ${p.concurrency} in flight, closed loop)`,
      '',
    );
    type Phase = StorageProbeResult['with_client_msg_id'];
    const phases: [string, Phase | undefined][] = [
      ['clientMsgId, dedup by lightweight transaction (Paxos)', p.with_client_msg_id],
      ['clientMsgId, Redis arbiter (what gateways with Redis do)', p.with_client_msg_id_arbiter],
      ['no clientMsgId', p.without_client_msg_id],
      ['group commit: the arbiter store, every append its own conversation', p.group_commit],
      ['reference: driver, unlogged batches of 32 single-row inserts (per row)', p.raw_unlogged_batch_32],
    ];
    out.push(
      table(
        [
          'appendMessage',
          'in flight',
          'appends/s',
          'p50 ms',
          'p99 ms',
          'Cassandra CPU s',
          'Cassandra CPU per append',
          'CQL requests per append',
          'seconds',
        ],
        phases
          .filter((x): x is [string, Phase] => x[1] !== undefined)
          .map(([label, v]) => [
            label,
            n(v.in_flight ?? p.concurrency),
            n(v.appends_per_s),
            n(v.p50_ms, 1),
            n(v.p99_ms, 1),
            n(v.cassandra_cpu_s, 2),
            v.cassandra_cpu_us_per_append !== undefined ? `${n(v.cassandra_cpu_us_per_append)} µs` : '–',
            n(v.cql_requests_per_append, 2),
            n(v.seconds, 1),
          ]),
      ),
    );
  }
  const done = r.rows.filter((x): x is Row => !isSkipped(x));
  const idle = done.filter((x) => x.scenario === 'idle');
  if (idle.length > 0) {
    out.push('', '**idle**', '');
    out.push(
      table(
        [
          'target',
          'connections',
          'connects/s',
          'RSS per connection',
          'after a forced GC: V8 heap / RSS per connection',
          'RSS total',
          'CPU s (connecting)',
          'retries',
        ],
        idle.map((x) => [
          x.target,
          n(x.connections),
          n(x.connect_per_s),
          `${n(x.bytes_per_connection)} B`,
          `${n(x.heap_bytes_per_connection_after_gc)} B / ${n(x.rss_bytes_per_connection_after_gc)} B`,
          `${n(x.rss_bytes / 2 ** 20, 1)} MiB`,
          n(x.cpu_s, 2),
          n(x.connect_retries),
        ]),
      ),
    );
  }
  for (const scenario of ['dm', 'room', 'xregion']) {
    const rows = done.filter((x) => x.scenario === scenario);
    if (rows.length === 0) continue;
    out.push('', `**${scenario}**`, '');
    out.push(
      table(
        [
          'target',
          'offered/s',
          'acked msgs/s',
          'deliveries/s',
          'p50 ms',
          'p95 ms',
          'p99 ms',
          'max ms',
          'ack p99 ms',
          'errors',
          'sustained',
          'CPU s: server / services / loadgen / others',
          `server-side CPU (${scenario === 'room' ? 'per delivery' : 'per acked msg'})`,
          'server RSS',
        ],
        rows.map((x) => [
          x.target,
          n(x.rate),
          n(x.msgs_per_s),
          n(x.deliveries_per_s),
          n(x.p50_ms, 1),
          n(x.p95_ms, 1),
          n(x.p99_ms, 1),
          n(x.max_ms, 1),
          n(x.ack_p99_ms, 1),
          n(x.errors),
          x.sustained ? 'yes' : '**no**',
          `${n(x.cpu_s, 2)} / ${n(x.services_cpu_s, 2)} / ${n(x.loadgen_cpu_s, 2)} / ${n(x.other_cpu_s, 2)}`,
          cpuCell(x, scenario),
          `${n(x.rss_bytes / 2 ** 20, 0)} MiB`,
        ]),
      ),
    );
  }
  const skipped = r.rows.filter(isSkipped);
  if (skipped.length > 0) {
    out.push('', '**skipped**', '');
    for (const s of skipped) out.push(`- ${s.scenario} / ${s.target}: ${s.skipped}`);
  }
  if (r.targets) {
    out.push('', '**issue 12 targets** (server-side CPU = the target process + the services it uses)', '');
    out.push(
      table(
        ['target', 'measured', 'bound', 'met', 'from'],
        r.targets.map((t) => [
          t.target,
          formatValue(t),
          t.bound,
          t.met === null ? 'n/a' : t.met ? 'yes' : '**no**',
          t.measured,
        ]),
      ),
    );
  }
  out.push('', '**ratios** (highest throughput achieved in any step)', '');
  out.push(
    table(
      ['scenario', 'ratio', 'value', 'goal'],
      r.ratios.map((x) => [
        x.scenario,
        `${x.numerator} / ${x.denominator}`,
        x.value === null ? `n/a (${x.why_null})` : `${x.value}×`,
        x.goal ? `${x.goal} — ${x.met === null ? 'not judged' : x.met ? 'met' : '**missed**'}` : '',
      ]),
    ),
  );
  out.push('', '**goals**', '');
  out.push(
    table(
      ['goal', 'measured', 'met'],
      r.goals.map((g) => [
        g.goal,
        g.measured + (g.note ? ` (${g.note})` : ''),
        g.met === null ? '?' : g.met ? 'yes' : '**no**',
      ]),
    ),
  );
  return `${out.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--')) ?? 'bench/results/latest.json';
  const result = JSON.parse(readFileSync(file, 'utf8')) as ResultFile;
  process.stdout.write(args.includes('--summary') ? summaryMarkdown(result) : toMarkdown(result));
}
