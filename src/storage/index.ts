/**
 * Storage factory: the embedded LMDB store for a single node, Cassandra for a real region
 * (given `dedup: arbiterDedup(new RedisDedupArbiter(…))` it dedups client messages without
 * Paxos). The returned store is not yet initialised: call `init()` (it creates/migrates the schema).
 */
import { CassandraStorage, type CassandraStorageOptions } from './cassandra/storage.ts';
import { EmbeddedStorage } from './embedded.ts';
import type { Storage } from './types.ts';

export interface EmbeddedStorageConfig {
  kind: 'embedded';
  /** Directory for the LMDB files; created if missing. */
  dataDir: string;
}

export interface CassandraStorageConfig extends CassandraStorageOptions {
  kind: 'cassandra';
}

export type StorageConfig = EmbeddedStorageConfig | CassandraStorageConfig;

export function createStorage(config: StorageConfig): Storage {
  switch (config.kind) {
    case 'embedded':
      return new EmbeddedStorage({ dataDir: config.dataDir });
    case 'cassandra': {
      const { kind: _kind, ...options } = config;
      return new CassandraStorage(options);
    }
  }
}

export type { DedupStrategy, DedupStrategyFactory } from './cassandra/dedup.ts';
export { arbiterDedup } from './cassandra/dedup-arbiter.ts';
export { lwtDedup } from './cassandra/dedup-lwt.ts';
export {
  type DedupArbiter,
  RedisDedupArbiter,
  type RedisDedupArbiterOptions,
} from './cassandra/redis-arbiter.ts';
export { BUCKET_MS } from './cassandra/rows.ts';
export type { ReplicationOptions } from './cassandra/schema.ts';
export type { ConsistencyName } from './cassandra/session.ts';
export { CassandraStorage, type CassandraStorageOptions } from './cassandra/storage.ts';
export { EmbeddedStorage } from './embedded.ts';
export * from './retention.ts';
export * from './types.ts';
