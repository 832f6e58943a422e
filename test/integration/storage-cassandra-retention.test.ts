/**
 * The retention and erasure contract on a real Cassandra 5 node (`CassandraStorage.retention`).
 */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import cassandra from 'cassandra-driver';
import { CassandraStorage, type CassandraStorageOptions } from '../../src/storage/cassandra/storage.ts';
import { type CassandraEndpoint, getSharedCassandra } from '../helpers/cassandra.ts';
import { retentionContract } from '../storage-retention.contract.ts';

let node: CassandraEndpoint & { close(): Promise<void> };
let raw: cassandra.Client;

before(async () => {
  node = await getSharedCassandra();
  raw = new cassandra.Client({
    contactPoints: node.contactPoints,
    localDataCenter: node.localDataCenter,
    protocolOptions: { port: node.port },
  });
  await raw.connect();
});

after(async () => {
  await raw?.shutdown();
  await node?.close();
});

function options(keyspace: string): CassandraStorageOptions {
  return {
    contactPoints: node.contactPoints,
    port: node.port,
    localDataCenter: node.localDataCenter,
    keyspace,
  };
}

retentionContract('cassandra', async () => {
  const ks = `retention_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  return {
    storage: new CassandraStorage(options(ks)),
    reopen: async () => new CassandraStorage({ ...options(ks), migrate: false }),
    cleanup: () => raw.execute(`DROP KEYSPACE IF EXISTS ${ks}`).then(() => undefined),
  };
});
