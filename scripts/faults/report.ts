/** The fault suite's output: a table per scenario and a summary on stdout, and one JSON file per run. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DeviceCount, Recovery } from './ledger.ts';

export interface ScenarioResult {
  name: string;
  description: string;
  region: string;
  downMs: number;
  /** ms since epoch. */
  timeline: { startAt: number; faultAt: number | null; healAt: number | null; trafficEndAt: number | null };
  acked: number;
  /** Acks answered `duplicate: true` (the server had stored the message on an earlier attempt). */
  resendAcks: number;
  rejected: Record<string, number>;
  /** Sends still in an outbox when the suite stopped waiting for them. */
  queuedAtEnd: number;
  /**
   * How long after the outboxes drained every region had applied its cross-region backlog (null:
   * not within the bound), and what was still pending per region when the wait ended.
   */
  replication: {
    settledMs: number | null;
    pending: Record<string, number | null>;
    detail: Record<string, string>;
  } | null;
  syncFailed: Record<string, string>;
  /** Messages some device received that no sender saw acked. */
  unackedDeliveries: number;
  totals: { expected: number; received: number; lost: number; duplicates: number };
  devices: DeviceCount[];
  recovery: Recovery | null;
  clientErrors: Record<string, Record<string, number>>;
  /** Per device, its connection changes after setup, as "+12.3s connected us-east" (from startAt). */
  connections: Record<string, string[]>;
  error?: string;
}

/**
 * A scenario fails on a lost or duplicated delivery, and also when a region had not applied its
 * cross-region backlog within the bound: its store would then lack acked messages for good, even
 * if no device of theirs happened to read from that region.
 */
export function failed(r: ScenarioResult): boolean {
  return (
    r.error !== undefined || r.totals.lost > 0 || r.totals.duplicates > 0 || r.replication?.settledMs === null
  );
}

function ms(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : `${(v / 1000).toFixed(1)} s`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}

export function formatScenario(r: ScenarioResult): string {
  const rows = [['device', 'home', 'expected', 'received', 'lost', 'dup']];
  for (const d of r.devices) {
    rows.push([
      d.device,
      d.home,
      String(d.expected),
      String(d.received),
      String(d.lost),
      String(d.duplicates),
    ]);
  }
  const t = r.totals;
  rows.push(['total', '', String(t.expected), String(t.received), String(t.lost), String(t.duplicates)]);
  const rec = r.recovery;
  const lines = [
    `\n== ${r.name} (${r.region}, ${ms(r.downMs)} down): ${r.description}`,
    table(rows),
    `acked ${r.acked} (resends answered duplicate: ${r.resendAcks}), rejected ${JSON.stringify(r.rejected)}, ` +
      `still queued ${r.queuedAtEnd}, delivered but never acked ${r.unackedDeliveries}`,
    r.replication === null
      ? 'replication: not checked'
      : r.replication.settledMs === null
        ? `replication: NOT settled, still pending ${JSON.stringify(r.replication.pending)}\n` +
          Object.entries(r.replication.detail)
            .map(([region, d]) => `  ${region}: ${d}`)
            .join('\n')
        : `replication: every region applied its backlog ${ms(r.replication.settledMs)} after the outboxes drained`,
  ];
  if (rec) {
    lines.push(
      `recovery: first ack after heal ${ms(rec.firstAckAfterHealMs)}; longest stall ${ms(rec.maxStallMs)}` +
        `${rec.neverAcked > 0 ? ` (${rec.neverAcked} never acked again)` : ''}; ` +
        (rec.movedDevices === null
          ? `${rec.affectedDevices} affected devices`
          : `${rec.movedDevices}/${rec.affectedDevices} affected devices sent through another region` +
            `${rec.maxMoveMs !== null ? ` (last after ${ms(rec.maxMoveMs)})` : ''}`),
    );
  }
  if (Object.keys(r.syncFailed).length > 0) lines.push(`sync failed: ${JSON.stringify(r.syncFailed)}`);
  if (r.error) lines.push(`ERROR: ${r.error}`);
  return lines.join('\n');
}

export function formatSummary(results: ScenarioResult[]): string {
  const rows = [
    ['scenario', 'acked', 'expected', 'lost', 'dup', 'ack after heal', 'stall', 'moved', 'result'],
  ];
  for (const r of results) {
    const rec = r.recovery;
    rows.push([
      r.name,
      String(r.acked),
      String(r.totals.expected),
      String(r.totals.lost),
      String(r.totals.duplicates),
      ms(rec?.firstAckAfterHealMs),
      ms(rec?.maxStallMs),
      rec && rec.movedDevices !== null ? `${rec.movedDevices}/${rec.affectedDevices}` : '-',
      r.error ? 'error' : failed(r) ? 'FAIL' : 'ok',
    ]);
  }
  return `\n== summary\n${table(rows)}`;
}

/** Where a run's files go: results/faults/<time> (results/ is gitignored), without extension. */
export function resultsStem(root: string): string {
  return path.join(root, 'results', 'faults', new Date().toISOString().replace(/[:.]/g, '-'));
}

/** Writes the run to `<stem>.json` and returns the path. */
export async function writeResults(stem: string, run: Record<string, unknown>): Promise<string> {
  await mkdir(path.dirname(stem), { recursive: true });
  const file = `${stem}.json`;
  await writeFile(file, `${JSON.stringify(run, null, 2)}\n`);
  return file;
}
