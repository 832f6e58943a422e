/**
 * Moving a region's data to a new store without downtime (docs/operations.md, "Moving a region to
 * a new store"): the phases and where they are kept (`phase.ts`), the two-store wrapper the
 * gateways run (`migrating.ts`), backfill and reconciliation (`backfill.ts`, `copy.ts`), metrics.
 */
import path from 'node:path';
import type { RegionConfig } from '../../config/schema.ts';
import type { Logger } from '../../util/log.ts';
import type { Storage } from '../types.ts';
import { type MigratingStorage, migratingStorage } from './migrating.ts';
import { FilePhaseStore, type PhaseStore, PhaseWatcher, phaseKey, RedisPhaseStore } from './phase.ts';

export * from './backfill.ts';
export * from './command.ts';
export type { Difference } from './copy.ts';
export * from './metrics.ts';
export * from './migrating.ts';
export * from './phase.ts';

/** The file a region without Redis keeps its migration state in. */
export function defaultPhaseFile(dataDir: string): string {
  return path.join(dataDir, 'store-migration.json');
}

/** Where a region keeps its migration state: its Redis when it has one, else a file. */
export function phaseStoreFor(region: RegionConfig, dataDir: string, log?: Logger): PhaseStore {
  if (region.redis) return new RedisPhaseStore(region.redis, phaseKey(region.name), log);
  return new FilePhaseStore(path.resolve(region.storeMigration?.phaseFile ?? defaultPhaseFile(dataDir)));
}

/** A gateway's store during a migration, and the watcher that tells it the phase. */
export function gatewayMigration(
  old: Storage,
  neu: Storage,
  store: PhaseStore,
  pollMs: number,
  log: Logger,
): { storage: MigratingStorage; watcher: PhaseWatcher } {
  const watcher = new PhaseWatcher(store, { pollMs, log });
  return { storage: migratingStorage(old, neu, watcher, { log }), watcher };
}
