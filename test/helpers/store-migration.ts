/**
 * Drives a store migration as an operator does: `scripts/migrate-store.ts` run as a separate
 * process against a gateway's old and new store, each phase change awaited on the gateway's
 * `/metrics` (it follows within its poll interval, without restarting), each backfill, reconcile
 * and verify read back from the report it keeps.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'cassandra-driver';
import type { MigrationReport, StorePhase } from '../../src/storage/migration/index.ts';
import type { CassandraEndpoint } from './cassandra.ts';
import { eventually } from './eventually.ts';
import type { TestGateway } from './gateway.ts';

const ROOT = join(import.meta.dirname, '../..');

/** Runs the migration command; resolves with its output and exit code. */
export async function migrate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      join(ROOT, 'node_modules/.bin/tsx'),
      [join(ROOT, 'scripts/migrate-store.ts'), ...args],
      { cwd: ROOT, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * The command's arguments for a gateway whose data folder is `dataDir` (its phase file there,
 * reports in `<dataDir>/reports`), moving from store spec `from` to `to`.
 */
export function commandArgs(from: string, to: string, dataDir: string, pollMs: number): string[] {
  return [
    ...['--from', from, '--to', to],
    ...['--phase-file', join(dataDir, 'store-migration.json')],
    ...['--poll-ms', String(pollMs), '--reports', join(dataDir, 'reports')],
  ];
}

export class MigrationOperator {
  /**
   * @param gw the gateway whose store moves
   * @param args what names the stores to the command (`--from … --to … --phase-file … --reports`)
   * @param reportDir where the command keeps its reports (the `--reports` of `args`)
   */
  constructor(
    private readonly gw: () => TestGateway,
    private readonly args: () => string[],
    private readonly reportDir: () => string,
  ) {}

  /** Sets the phase with the command and waits until the gateway's /metrics shows it. */
  async phase(to: StorePhase): Promise<void> {
    const r = await migrate(['phase', to, ...this.args()]);
    assert.equal(r.code, 0, `phase ${to}: ${r.stdout}${r.stderr}`);
    await eventually(
      async () =>
        assert.match(
          await this.gw().gateway.metrics.registry.metrics(),
          new RegExp(`^chat_store_migration_phase\\{phase="${to}"\\} 1$`, 'm'),
        ),
      { timeoutMs: 10_000 },
    );
  }

  /** Runs a command that keeps a report; asserts it left no difference and returns the report. */
  async run(command: 'backfill' | 'reconcile' | 'verify'): Promise<MigrationReport> {
    const before = new Set(await readdir(this.reportDir()).catch(() => []));
    const r = await migrate([command, ...this.args()]);
    const file = (await readdir(this.reportDir())).find((f) => !before.has(f) && f.includes(command));
    assert.ok(file, `${command} kept no report: ${r.stdout}${r.stderr.slice(-3000)}`);
    const report = JSON.parse(await readFile(join(this.reportDir(), file), 'utf8')) as MigrationReport;
    assert.deepEqual(report.remaining, [], `${command}: differences remain`);
    assert.equal(r.code, 0, `${command}: ${r.stdout}${r.stderr.slice(-3000)}`);
    return report;
  }
}

/** Keyspaces made for migrations on the shared test Cassandra, dropped by `dropKeyspaces`. */
export class TargetKeyspaces {
  private readonly made: string[] = [];

  constructor(private readonly cassandra: () => CassandraEndpoint) {}

  name(): string {
    const ks = `chat_mig_${randomBytes(4).toString('hex')}`;
    this.made.push(ks);
    return ks;
  }

  /** The region config's `cassandra` block for keyspace `ks`. */
  config(ks: string) {
    const c = this.cassandra();
    return { contactPoints: c.contactPoints, port: c.port, localDataCenter: c.localDataCenter, keyspace: ks };
  }

  /** The command's `cassandra:` store spec for keyspace `ks`. */
  spec(ks: string): string {
    const c = this.cassandra();
    return `cassandra:${c.contactPoints.join(',')}:${c.port}/${c.localDataCenter}/${ks}`;
  }

  async dropAll(): Promise<void> {
    const c = this.cassandra();
    const client = new Client({
      contactPoints: c.contactPoints,
      protocolOptions: { port: c.port },
      localDataCenter: c.localDataCenter,
    });
    for (const ks of this.made) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
    await client.shutdown();
  }
}
