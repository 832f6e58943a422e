/**
 * Moves a region's data to a new store while its gateways serve (docs/operations.md, "Moving a
 * region to a new store").
 *
 *   npm run migrate-store -- <command> --config regions.yaml --region eu
 *   npm run migrate-store -- <command> --from embedded:data --to cassandra:127.0.0.1:9042/dc1/chat2 \
 *       --phase-file data/store-migration.json
 *
 * Commands:
 *   status               the phase, backfill progress and last verification
 *   phase NAME [force]   old | dual-write | compare | read-new | new-only | done
 *   backfill             copy every conversation and user in verified batches (dual-write or compare)
 *   reconcile            compare both stores everywhere and repair what differs
 *   verify               compare and report only
 *
 * Flags:
 *   --config FILE --region NAME   the gateways' config: the old store is the region's store, the new
 *                                 one `storeMigration.to`, the phase where the gateways read it;
 *                                 the gateways' CHAT_CASSANDRA_... and CHAT_REDIS_... secrets apply
 *   --from SPEC --to SPEC         stores given directly: embedded:DIR or cassandra:HOSTS:PORT/DC/KEYSPACE
 *   --phase-file FILE | --redis URL (with --region)   where the phase is kept (with --from/--to)
 *   --poll-ms N                   the gateways' poll interval (default: config, else 2000)
 *   --reports DIR                 where reports are kept (default ./store-migration-reports)
 *   --batch N                     conversations per verified batch (default 100)
 *
 * Exit code 0 on success (for backfill/reconcile/verify: no difference remaining), 1 when
 * differences remain or a command fails, 2 on bad arguments.
 */

import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfigFile } from '../src/config/load.ts';
import { applyServiceSecrets, serviceSecretsEnv } from '../src/config/service-secrets.ts';
import { createStorage, type StorageConfig } from '../src/storage/index.ts';
import {
  FilePhaseStore,
  MigrationCommandError,
  type PhaseStore,
  phaseKey,
  phaseStoreFor,
  RedisPhaseStore,
  runMigrationCommand,
} from '../src/storage/migration/index.ts';
import { createLogger } from '../src/util/log.ts';

const USAGE =
  'usage: migrate-store <status|phase NAME [force]|backfill|reconcile|verify> (--config FILE --region NAME | --from SPEC --to SPEC (--phase-file FILE | --redis URL --region NAME))';

/** `embedded:DIR` or `cassandra:HOST[,HOST…][:PORT]/DC/KEYSPACE`. */
function parseStore(spec: string): StorageConfig {
  if (spec.startsWith('embedded:'))
    return { kind: 'embedded', dataDir: path.resolve(spec.slice('embedded:'.length)) };
  const m = /^cassandra:([^/:]+(?:,[^/:]+)*)(?::(\d+))?\/([^/]+)\/([a-z][a-z0-9_]*)$/.exec(spec);
  if (!m)
    throw new MigrationCommandError(`bad store ${spec}: embedded:DIR or cassandra:HOSTS[:PORT]/DC/KEYSPACE`);
  return {
    kind: 'cassandra',
    contactPoints: m[1]!.split(','),
    port: Number(m[2] ?? 9042),
    localDataCenter: m[3]!,
    keyspace: m[4]!,
    replicationFactor: 1,
  };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      region: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'phase-file': { type: 'string' },
      redis: { type: 'string' },
      'poll-ms': { type: 'string' },
      reports: { type: 'string', default: 'store-migration-reports' },
      batch: { type: 'string' },
    },
  });
  const [command, ...args] = positionals;
  if (!command) {
    console.error(USAGE);
    return 2;
  }
  let oldConfig: StorageConfig;
  let newConfig: StorageConfig;
  let phases: PhaseStore;
  let pollMs = Number(values['poll-ms'] ?? 2000);
  if (values.config) {
    const config = loadConfigFile(values.config);
    const region =
      config.regions.find((r) => r.name === values.region) ?? (values.region ? undefined : config.regions[0]);
    if (!region?.storeMigration) {
      console.error(
        `${values.config}: region ${values.region ?? '(first)'} not found or has no storeMigration`,
      );
      return 2;
    }
    // The same secrets from the environment as the region's gateways take (a Kubernetes Secret).
    applyServiceSecrets(region, z.object(serviceSecretsEnv).parse(process.env));
    const to = region.storeMigration.to;
    const dataDir = path.resolve(region.dataDir);
    oldConfig = region.cassandra ? { kind: 'cassandra', ...region.cassandra } : { kind: 'embedded', dataDir };
    newConfig =
      'cassandra' in to
        ? { kind: 'cassandra', ...to.cassandra }
        : { kind: 'embedded', dataDir: path.resolve(to.dataDir) };
    phases = phaseStoreFor(region, dataDir);
    if (values['poll-ms'] === undefined) pollMs = region.storeMigration.pollMs;
  } else if (values.from && values.to && (values['phase-file'] || (values.redis && values.region))) {
    oldConfig = parseStore(values.from);
    newConfig = parseStore(values.to);
    phases = values['phase-file']
      ? new FilePhaseStore(path.resolve(values['phase-file']))
      : new RedisPhaseStore(values.redis!, phaseKey(values.region!));
  } else {
    console.error(USAGE);
    return 2;
  }
  const log = createLogger({ level: 'info', destination: 'stderr' });
  try {
    const report = await runMigrationCommand(
      {
        old: createStorage(oldConfig),
        neu: createStorage(newConfig),
        phases,
        pollMs,
        reportDir: path.resolve(values.reports!),
        log,
        ...(values.batch ? { batchSize: Number(values.batch) } : {}),
      },
      command,
      args,
      (line) => console.log(line),
    );
    return report && report.remaining.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof MigrationCommandError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  } finally {
    await phases.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
