/**
 * Starts the long-lived dev Cassandra for `scripts/services.sh start`: data in
 * .state/cassandra/dev, CQL on 127.0.0.1:19042, internode on 17000. The JVM is detached so it
 * outlives this script; its pid goes to .state/cassandra/dev/cassandra.pid.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startCassandra } from '../../test/helpers/cassandra.ts';

const dataDir = join(import.meta.dirname, '../../.state/cassandra/dev');
const node = await startCassandra({
  dataDir,
  nativePort: Number(process.env.DEV_CASSANDRA_PORT ?? 19042),
  storagePort: Number(process.env.DEV_CASSANDRA_STORAGE_PORT ?? 17000),
  datacenter: 'dc1',
  detached: true,
});
await writeFile(join(dataDir, 'cassandra.pid'), `${node.pid}\n`);
console.log(`cassandra: pid ${node.pid}, cql 127.0.0.1:${node.port}, dc1, up in ${node.startupMs} ms`);
