/**
 * Builds a gateway for one region from config: real services where the region names them
 * (Cassandra, Redis, NATS), embedded implementations where it does not.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Directory } from './config/directory.ts';
import type { CassandraConfig, ChatConfig, RegionConfig } from './config/schema.ts';
import { Gateway } from './gateway/gateway.ts';
import { registerReplicationMetrics } from './gateway/replication-metrics.ts';
import { presenceTiming } from './presence/defaults.ts';
import { GlobalPresence } from './presence/global.ts';
import { createPresence } from './presence/index.ts';
import type { Presence } from './presence/types.ts';
import { CrossRegionLink, Replication } from './replication/index.ts';
import { createRouter } from './routing/index.ts';
import type { MemoryBus } from './routing/memory.ts';
import type { Router } from './routing/types.ts';
import { arbiterDedup, createStorage, RedisDedupArbiter, type StorageConfig } from './storage/index.ts';
import { gatewayMigration, phaseStoreFor, registerStoreMigrationMetrics } from './storage/migration/index.ts';
import { componentLogger, type Logger } from './util/log.ts';
import { overriding } from './util/overriding.ts';
import { attachWeb } from './web/index.ts';
import { createWebhooks, hookedStorage, type Webhooks } from './webhooks/index.ts';

export interface StartOptions {
  config: ChatConfig;
  region: RegionConfig;
  workerId?: number;
  port?: number;
  gatewayId?: string;
  /** Overrides `region.dataDir` for the embedded store. */
  dataDir?: string;
  /** Shares an in-process bus between gateways of one process (embedded routing only). */
  bus?: MemoryBus;
  /**
   * Shares one in-process presence between gateways of one process (embedded only). The gateway
   * does not close it; its owner does.
   */
  presence?: Presence;
  /**
   * Wraps the router the config names before the gateway uses it (tests: a transport that loses
   * deliveries and reports the gap).
   */
  wrapRouter?: (router: Router) => Router;
  /**
   * The process's root logger (`createLogger`). Every component logs through a child carrying
   * `region`, `gatewayId` and `component`.
   */
  log: Logger;
}

export async function startGateway(opts: StartOptions): Promise<Gateway> {
  const { config, region } = opts;
  const workerId = opts.workerId ?? 0;
  const gatewayId = opts.gatewayId ?? `${region.name}-w${workerId}-${randomUUID().slice(0, 8)}`;
  const log = opts.log.child({ region: region.name, gatewayId });
  const dataDir = path.resolve(opts.dataDir ?? region.dataDir);
  const cassandraStore = (cassandra: CassandraConfig): StorageConfig => ({
    kind: 'cassandra',
    ...cassandra,
    log: componentLogger(log, 'migrations'),
    // Client-message dedup decided in the region's Redis, not by a Paxos round per message.
    ...(region.redis
      ? {
          dedup: arbiterDedup(
            new RedisDedupArbiter({
              ...region.redis,
              keyPrefix: `chat:${region.name}:dedup:`,
              log: componentLogger(log, 'dedup-arbiter'),
            }),
          ),
        }
      : {}),
  });
  let localStorage = createStorage(
    region.cassandra ? cassandraStore(region.cassandra) : { kind: 'embedded', dataDir },
  );
  // Moving the region to a new store: both stores, routed by the phase the migration command sets.
  let storeMigration: ReturnType<typeof gatewayMigration> | undefined;
  if (region.storeMigration) {
    const to = region.storeMigration.to;
    const target = createStorage(
      'cassandra' in to
        ? cassandraStore(to.cassandra)
        : { kind: 'embedded', dataDir: path.resolve(to.dataDir) },
    );
    storeMigration = gatewayMigration(
      localStorage,
      target,
      phaseStoreFor(region, dataDir, componentLogger(log, 'store-migration')),
      region.storeMigration.pollMs,
      componentLogger(log, 'store-migration'),
    );
    localStorage = storeMigration.storage;
  }
  // `presence.ttlMs` bounds how long a crashed gateway's users show online, offline event included.
  const timing = presenceTiming(config.presence.ttlMs, config.presence.heartbeatMs);
  const regionPresence = opts.presence
    ? // A view of the shared presence whose start() and close() leave the shared instance be.
      overriding(opts.presence, { start: async () => {}, close: async () => {} })
    : createPresence(
        region.redis
          ? {
              kind: 'redis',
              ...region.redis,
              ...timing,
              keyPrefix: `chat:${region.name}:`,
              log: componentLogger(log, 'presence'),
            }
          : { kind: 'memory', ...timing, log: componentLogger(log, 'presence') },
      );
  // Several regions: replicate through the NATS supercluster, and see other regions' presence.
  let storage = localStorage;
  let presence = regionPresence;
  let replication: Replication | undefined;
  const peers = config.regions.filter((r) => r.name !== region.name).map((r) => r.name);
  if (peers.length > 0 && region.nats) {
    const link = new CrossRegionLink({
      ...region.nats,
      region: region.name,
      peers,
      outboxMaxAgeMs: config.replication.outboxMaxAgeMs,
      duplicateWindowMs: config.replication.duplicateWindowMs,
      name: `xregion-${gatewayId}`,
      log: componentLogger(log, 'xregion'),
    });
    const directory = new Directory(
      config.regions.map((r) => r.name),
      config.directory,
    );
    replication = new Replication(region.name, link, directory, localStorage);
    storage = replication.storage;
    presence = new GlobalPresence(regionPresence, {
      ...region.nats,
      region: region.name,
      gatewayId,
      ttlMs: config.presence.ttlMs,
      refreshMs: config.replication.presenceRefreshMs,
      log: componentLogger(log, 'global-presence'),
    });
    try {
      await link.start();
    } catch (err) {
      await link.close();
      throw err;
    }
  }
  // Webhooks: events are queued by the gateway's own writes, outside replication (hooked-storage.ts).
  const webhooks: Webhooks | null = createWebhooks({
    config: config.webhooks,
    region,
    dataDir,
    log: componentLogger(log, 'webhooks'),
    storage: localStorage,
  });
  if (webhooks) {
    try {
      await webhooks.start();
    } catch (err) {
      await Promise.allSettled([webhooks.close(), replication?.close()]);
      throw err;
    }
    const moving = replication;
    storage = hookedStorage(
      storage,
      webhooks.emitter,
      moving ? (u) => moving.directory.notifies(region.name, u) : undefined,
    );
  }
  const configured = createRouter(
    region.nats
      ? {
          kind: 'nats',
          ...region.nats,
          region: region.name,
          gatewayId,
          log: componentLogger(log, 'nats'),
        }
      : { kind: 'memory', gatewayId, ...(opts.bus ? { bus: opts.bus } : {}) },
  );
  const router = opts.wrapRouter ? opts.wrapRouter(configured) : configured;
  const gateway = new Gateway({
    config,
    region,
    storage,
    presence,
    router,
    workerId,
    gatewayId,
    ...(replication ? { replication } : {}),
    ...(webhooks ? { webhooks } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    log,
  });
  // The web chat app at `/` and the operations dashboard at `/dashboard` (see src/web/).
  const web = attachWeb(gateway);
  registerReplicationMetrics(gateway.metrics.registry, replication && ((ms) => replication.backlog(ms)));
  if (storeMigration) {
    const { storage: migrating, watcher } = storeMigration;
    registerStoreMigrationMetrics(gateway.metrics.registry, migrating.migration.stats, () => watcher.current);
  }
  try {
    await gateway.start();
  } catch (err) {
    await Promise.allSettled([
      replication?.close(),
      router.close(),
      presence.close(),
      storage.close(),
      webhooks?.close(),
    ]);
    throw err;
  }
  // Sampling and publishing this gateway's figures for the deployment view (src/dashboard/fleet/).
  await web.start();
  return gateway;
}
