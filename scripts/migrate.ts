/**
 * Creates or migrates a region's Cassandra keyspace, then exits. Safe to run repeatedly.
 *
 *   tsx scripts/migrate.ts --contact-points 10.0.0.1,10.0.0.2 --dc us-east --keyspace chat_us_east
 *
 * Flags (or environment variables):
 *   --contact-points a,b   CASSANDRA_CONTACT_POINTS   default 127.0.0.1
 *   --port N               CASSANDRA_PORT             default 9042
 *   --dc NAME              CASSANDRA_DC               required (the driver's localDataCenter)
 *   --keyspace NAME        CASSANDRA_KEYSPACE         required
 *   --rf N                 CASSANDRA_RF               replicas in --dc when creating the keyspace, default 1
 *   --replication JSON     CASSANDRA_REPLICATION      full CQL replication map instead of --rf, e.g.
 *                                                     '{"class":"NetworkTopologyStrategy","us-east":3,"eu-west":3}'
 *   --username NAME        CHAT_CASSANDRA_USERNAME    for PasswordAuthenticator (the password only from
 *                          CHAT_CASSANDRA_PASSWORD: not on a command line anyone can list)
 *   --tls-ca-file PATH     TLS to the nodes, verified with this CA (docs/operations.md, "Credentials and TLS")
 *   --tls-cert-file PATH, --tls-key-file PATH   a client certificate, for require_client_auth
 *
 * Exit code 0 when the schema is current, 1 on any error, 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { type CassandraSecurity, cassandraSecurityOptions } from '../src/services/cassandra.ts';
import {
  assertKeyspaceName,
  MIGRATIONS,
  migrate,
  type ReplicationOptions,
} from '../src/storage/cassandra/schema.ts';
import { createLogger } from '../src/util/log.ts';

class UsageError extends Error {
  override name = 'UsageError';
}

interface MigrateArgs {
  contactPoints: string[];
  port: number;
  localDataCenter: string;
  keyspace: string;
  replication: ReplicationOptions;
  security: CassandraSecurity;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): MigrateArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      'contact-points': { type: 'string' },
      port: { type: 'string' },
      dc: { type: 'string' },
      keyspace: { type: 'string' },
      rf: { type: 'string' },
      replication: { type: 'string' },
      username: { type: 'string' },
      'tls-ca-file': { type: 'string' },
      'tls-cert-file': { type: 'string' },
      'tls-key-file': { type: 'string' },
    },
    strict: true,
  });
  const contactPoints = (values['contact-points'] ?? env.CASSANDRA_CONTACT_POINTS ?? '127.0.0.1')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const port = Number(values.port ?? env.CASSANDRA_PORT ?? '9042');
  const localDataCenter = values.dc ?? env.CASSANDRA_DC;
  const keyspace = values.keyspace ?? env.CASSANDRA_KEYSPACE;
  if (contactPoints.length === 0) throw new UsageError('--contact-points: at least one host');
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError('--port: an integer 1..65535');
  if (!localDataCenter) throw new UsageError('--dc (or CASSANDRA_DC) is required');
  if (!keyspace) throw new UsageError('--keyspace (or CASSANDRA_KEYSPACE) is required');
  try {
    assertKeyspaceName(keyspace);
  } catch (err) {
    throw new UsageError(`--keyspace: ${(err as Error).message}`);
  }

  const replicationJson = values.replication ?? env.CASSANDRA_REPLICATION;
  let replication: ReplicationOptions;
  if (replicationJson) {
    try {
      replication = JSON.parse(replicationJson) as ReplicationOptions;
    } catch (err) {
      throw new UsageError(`--replication: not JSON (${(err as Error).message})`);
    }
  } else {
    const rf = Number(values.rf ?? env.CASSANDRA_RF ?? '1');
    if (!Number.isInteger(rf) || rf < 1) throw new UsageError('--rf: a positive integer');
    replication = { class: 'NetworkTopologyStrategy', [localDataCenter]: rf };
  }
  const username = values.username ?? env.CHAT_CASSANDRA_USERNAME;
  const password = env.CHAT_CASSANDRA_PASSWORD;
  if ((username === undefined) !== (password === undefined))
    throw new UsageError('--username and CHAT_CASSANDRA_PASSWORD go together');
  if ((values['tls-cert-file'] === undefined) !== (values['tls-key-file'] === undefined))
    throw new UsageError('--tls-cert-file and --tls-key-file go together');
  const tlsWanted = ['tls-ca-file', 'tls-cert-file', 'tls-key-file'].some(
    (k) => values[k as 'tls-ca-file'] !== undefined,
  );
  const security: CassandraSecurity = {
    ...(username !== undefined ? { username, password } : {}),
    ...(tlsWanted
      ? {
          tls: {
            ...(values['tls-ca-file'] ? { caFile: values['tls-ca-file'] } : {}),
            ...(values['tls-cert-file'] ? { certFile: values['tls-cert-file'] } : {}),
            ...(values['tls-key-file'] ? { keyFile: values['tls-key-file'] } : {}),
          },
        }
      : {}),
  };
  return { contactPoints, port, localDataCenter, keyspace, replication, security };
}

async function main(): Promise<number> {
  let args: MigrateArgs;
  try {
    args = parse(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`migrate: ${(err as Error).message}`);
    return 2;
  }
  const client = new cassandra.Client({
    contactPoints: args.contactPoints,
    localDataCenter: args.localDataCenter,
    protocolOptions: { port: args.port },
    ...cassandraSecurityOptions(args.security),
    queryOptions: { consistency: cassandra.types.consistencies.localQuorum },
  });
  try {
    await client.connect();
    const applied = await migrate(client, args.keyspace, args.replication, createLogger({ level: 'info' }));
    const latest = Math.max(...MIGRATIONS.map((m) => m.version));
    console.log(
      applied.length > 0
        ? `migrate: ${args.keyspace} now at version ${latest} (applied ${applied.join(', ')})`
        : `migrate: ${args.keyspace} already at version ${latest}`,
    );
    return 0;
  } catch (err) {
    console.error(`migrate: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await client.shutdown();
  }
}

process.exitCode = await main();
