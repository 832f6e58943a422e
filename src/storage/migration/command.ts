/**
 * What `scripts/migrate-store.ts` does, kept here so tests drive it without a child process:
 * reading and moving the phase, backfill, reconciliation and verification, each writing its
 * progress into the migration state (every gateway's `/metrics` shows it) and its report to a
 * file that is kept.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, silentLogger } from '../../util/log.ts';
import type { Storage } from '../types.ts';
import { backfill, type MigrationReport, reconcile, summarise } from './backfill.ts';
import { type BackfillProgress, isStorePhase, type PhaseStore, type StorePhase, setPhase } from './phase.ts';

export interface MigrationTarget {
  /** The stores, not yet initialised (`run` initialises and closes them when it needs them). */
  old: Storage;
  neu: Storage;
  phases: PhaseStore;
  /** The gateways' poll interval: a phase is in force everywhere once twice this has passed. */
  pollMs: number;
  /** Directory reports are written to. */
  reportDir: string;
  log?: Logger;
  batchSize?: number;
  settleMs?: number;
}

export class MigrationCommandError extends Error {
  override readonly name = 'MigrationCommandError';
}

/** Phases in which a backfill may run: writes are mirrored to the new store. */
const COPY_PHASES: readonly StorePhase[] = ['dual-write', 'compare'];

/**
 * Runs one command (`status`, `phase <name> [force]`, `backfill`, `reconcile`, `verify`); `out`
 * gets its human-readable lines. Resolves with the report for the copying commands.
 */
export async function runMigrationCommand(
  target: MigrationTarget,
  command: string,
  args: readonly string[],
  out: (line: string) => void,
): Promise<MigrationReport | null> {
  const { phases } = target;
  if (command === 'status') {
    out(JSON.stringify(await phases.read(), null, 2));
    return null;
  }
  if (command === 'phase') {
    const to = args[0];
    if (!isStorePhase(to)) throw new MigrationCommandError(`unknown phase ${String(to)}`);
    const state = await phases.read();
    if (to === 'read-new' && state.phase !== 'read-new' && args[1] !== 'force') {
      const v = state.verified;
      if (!v || v.remaining > 0) {
        throw new MigrationCommandError(
          'read-new needs a finished backfill or reconcile with no difference remaining (run `reconcile`), or `force`',
        );
      }
    }
    const next = await setPhase(phases, to);
    out(`phase ${next.phase}; every gateway follows within ${target.pollMs} ms`);
    return null;
  }
  if (command !== 'backfill' && command !== 'reconcile' && command !== 'verify') {
    throw new MigrationCommandError(`unknown command ${command}`);
  }
  const state = await phases.read();
  // A repair copies from the old store, so it runs only while the old store is authoritative;
  // comparing alone is also meaningful in read-new (both stores still get every write).
  const allowed: readonly StorePhase[] = command === 'verify' ? [...COPY_PHASES, 'read-new'] : COPY_PHASES;
  if (!allowed.includes(state.phase)) {
    throw new MigrationCommandError(
      `${command} runs in the ${allowed.join(' or ')} phase (now ${state.phase})`,
    );
  }
  // Until every gateway mirrors writes, a write could reach the old store alone after the copy
  // read past it: wait until the phase has been in force for two poll intervals.
  const wait = state.changedAt + 2 * target.pollMs - Date.now();
  if (wait > 0) {
    out(`waiting ${wait} ms for every gateway to follow phase ${state.phase}`);
    await sleep(wait);
  }
  const { old, neu } = target;
  await Promise.all([old.init(), neu.init()]);
  try {
    const log = target.log ?? silentLogger;
    const opts = {
      log,
      ...(target.batchSize !== undefined ? { batchSize: target.batchSize } : {}),
      ...(target.settleMs !== undefined ? { settleMs: target.settleMs } : {}),
      progress: async (p: BackfillProgress) => {
        if (command === 'verify') return;
        const s = await phases.read();
        await phases.write({ ...s, backfill: p });
        out(`${p.conversations} conversations, ${p.messages} messages${p.finishedAt ? ' — finished' : ''}`);
      },
    };
    const report =
      command === 'backfill'
        ? await backfill(old, neu, opts)
        : await reconcile(old, neu, { ...opts, repair: command === 'reconcile' });
    const file = path.join(
      target.reportDir,
      `store-migration-${command}-${new Date(report.startedAt).toISOString()}.json`,
    );
    await mkdir(target.reportDir, { recursive: true });
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    const s = await phases.read();
    await phases.write({ ...s, verified: { at: report.startedAt, remaining: report.remaining.length } });
    out(`${summarise(report)}\nreport: ${file}`);
    return report;
  } finally {
    await Promise.allSettled([old.close(), neu.close()]);
  }
}
