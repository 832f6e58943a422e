/**
 * Starts a real Cassandra 5.0 node from the jars that `scripts/services.sh install` put in
 * `.state/cassandra/lib` (cassandra-all from Maven Central ships no launcher, yaml or logback.xml,
 * so this module writes them and runs `CassandraDaemon` itself). Used by tests and by
 * `scripts/cassandra/dev.ts`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import cassandra from 'cassandra-driver';
import { canConnect, freePorts } from './ports.ts';
import { removeOnExit, startProcess } from './proc.ts';
import { makeJavaStores, type TestCerts } from './tls-certs.ts';

/** The test keystore's password (a throwaway store in a temp dir). */
const STORE_PASSWORD = 'test-store-pass';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Where `scripts/services.sh install` copies cassandra-all and its runtime dependencies. */
export const CASSANDRA_LIB = join(REPO_ROOT, '.state/cassandra/lib');

export interface CassandraOptions {
  /** Node directory (config, data, logs). Default: a fresh temp dir, removed by close(). */
  dataDir?: string;
  /** Loopback address for gossip and CQL, e.g. 127.0.0.2 for a second node. Default 127.0.0.1. */
  listenAddress?: string;
  /** Datacenter name written to cassandra-rackdc.properties. Default 'dc1'. */
  datacenter?: string;
  /** Seed list, "host:storagePort,…". Default: this node alone. */
  seeds?: string;
  /** CQL port; default a free one. */
  nativePort?: number;
  /** Internode port; default a free one. */
  storagePort?: number;
  /** Heap size for -Xms/-Xmx. Default '1G'. */
  heap?: string;
  /** Leave the JVM running when this Node process exits (for the dev service). */
  detached?: boolean;
  /** How long to wait for the first successful CQL query. Default 240 s. */
  readyTimeoutMs?: number;
  /**
   * Open JMX on this loopback port (no auth) so `nodetool -p <port>` can inspect the node;
   * diagnostics only (bench --cassandra-jmx). Default: no JMX.
   */
  jmxPort?: number;
  /** Extra JVM flags, appended after the defaults (diagnostics, e.g. a JFR recording). */
  jvmFlags?: string[];
  /**
   * Allow SASI indexes (`sasi_indexes_enabled`, false by default in 5.0: experimental). Only for
   * bench/micro/search-index.ts, which measures them against SAI; the schema uses none.
   */
  sasiIndexesEnabled?: boolean;
  /**
   * Require a password (`authenticator: PasswordAuthenticator`; the built-in superuser is
   * `cassandra`/`cassandra`) and/or TLS from clients (`client_encryption_options`, with a client
   * certificate from the test CA when `requireClientAuth`). The readiness probe then logs in with
   * `probe` (the driver's authProvider and sslOptions).
   */
  security?: {
    passwordAuth?: boolean;
    tls?: { certs: TestCerts; requireClientAuth: boolean };
    probe: Pick<cassandra.ClientOptions, 'authProvider' | 'sslOptions'>;
  };
}

/** What a client needs to reach a Cassandra node. */
export interface CassandraEndpoint {
  contactPoints: string[];
  port: number;
  localDataCenter: string;
}

export interface CassandraHandle extends CassandraEndpoint {
  /** Internode port, for the `seeds` of further nodes. */
  storagePort: number;
  pid: number;
  dir: string;
  /** Milliseconds from spawn to the first successful CQL query. */
  startupMs: number;
  /** Stops the JVM this call started; removes its directory if it was a temp dir. */
  close(): Promise<void>;
}

// From Cassandra 5.0's conf/jvm17-server.options: without these Java 17 refuses the reflective
// access Cassandra, jamm and Netty need.
export const JVM17_MODULE_FLAGS = [
  '--add-exports java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports java.sql/java.sql=ALL-UNNAMED',
  '--add-exports java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens java.base/java.io=ALL-UNNAMED',
  '--add-opens java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens java.base/java.lang=ALL-UNNAMED',
  '--add-opens java.base/java.util=ALL-UNNAMED',
].flatMap((flag) => flag.split(' '));

/** Cassandra 5.0 aborts on unknown yaml keys, so this stays minimal and uses 5.0 key names. */
function cassandraYaml(p: {
  dir: string;
  listen: string;
  seeds: string;
  nativePort: number;
  storagePort: number;
  sslStoragePort: number;
  sasi: boolean;
  passwordAuth: boolean;
  clientTls?: { keystore: string; truststore: string; password: string; requireClientAuth: boolean };
}): string {
  const d = (sub: string) => JSON.stringify(join(p.dir, sub));
  return `cluster_name: globalchat-test
num_tokens: 16
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: GossipingPropertyFileSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: ${JSON.stringify(p.seeds)}
listen_address: ${p.listen}
rpc_address: ${p.listen}
storage_port: ${p.storagePort}
ssl_storage_port: ${p.sslStoragePort}
native_transport_port: ${p.nativePort}
start_native_transport: true
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories: [${d('data/data')}]
commitlog_directory: ${d('data/commitlog')}
saved_caches_directory: ${d('data/saved_caches')}
hints_directory: ${d('data/hints')}
cdc_raw_directory: ${d('data/cdc_raw')}
# A new cluster needs no on-disk compatibility with 4.x.
storage_compatibility_mode: NONE
# Tests drop and truncate a lot; a snapshot per drop only costs time and disk.
auto_snapshot: false
# The store's group-committed unlogged batches (src/storage/cassandra/group-commit.ts) span up
# to 64 partitions and can pass 5 KiB: both only warn, but once per batch, which floods the log.
# docs/operations.md says the same for production.
batch_size_warn_threshold: 64KiB
unlogged_batch_across_partitions_warn_threshold: 100
${p.sasi ? 'sasi_indexes_enabled: true\n' : ''}${p.passwordAuth ? 'authenticator: PasswordAuthenticator\n' : ''}${p.clientTls ? clientEncryptionYaml(p.clientTls) : ''}`;
}

/** TLS required on the CQL port (5.0 names; PKCS#12 stores from tls-certs.ts). */
function clientEncryptionYaml(t: {
  keystore: string;
  truststore: string;
  password: string;
  requireClientAuth: boolean;
}): string {
  const q = JSON.stringify;
  return `client_encryption_options:
  enabled: true
  optional: false
  store_type: PKCS12
  keystore: ${q(t.keystore)}
  keystore_password: ${q(t.password)}
  truststore: ${q(t.truststore)}
  truststore_password: ${q(t.password)}
  require_client_auth: ${t.requireClientAuth}
`;
}

function logbackXml(logFile: string): string {
  return `<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${logFile}</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
`;
}

/**
 * Cassandra 5.0 runs on Java 11 or 17 only, and JAVA_HOME may name another JDK (this machine
 * kind also has a Temurin 25), so prefer Debian's 17 explicitly; CASSANDRA_JAVA overrides.
 */
export function javaBinary(): string {
  if (process.env.CASSANDRA_JAVA) return process.env.CASSANDRA_JAVA;
  const jvms = '/usr/lib/jvm';
  const jdk17 = existsSync(jvms) && readdirSync(jvms).find((d) => /^java-17-openjdk-/.test(d));
  return jdk17 ? join(jvms, jdk17, 'bin/java') : 'java';
}

/** The keytool beside `javaBinary()`, else the one on PATH. */
function keytoolBinary(): string {
  const beside = join(dirname(javaBinary()), 'keytool');
  return existsSync(beside) ? beside : 'keytool';
}

function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

/** One CQL round trip; throws if the node does not answer. */
export async function queryReleaseVersion(
  ep: CassandraEndpoint,
  security: Pick<cassandra.ClientOptions, 'authProvider' | 'sslOptions'> = {},
): Promise<string> {
  const client = new cassandra.Client({
    ...security,
    contactPoints: ep.contactPoints,
    localDataCenter: ep.localDataCenter,
    protocolOptions: { port: ep.port, maxVersion: 4 },
    socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
  });
  try {
    await client.connect();
    const rs = await client.execute('SELECT release_version FROM system.local');
    return String(rs.first()?.get('release_version'));
  } finally {
    await client.shutdown().catch(() => {});
  }
}

/**
 * Starts one Cassandra node and resolves once `SELECT release_version FROM system.local`
 * succeeds on it. Rejects with the tail of its logs if the JVM exits or the timeout passes.
 */
export async function startCassandra(opts: CassandraOptions = {}): Promise<CassandraHandle> {
  const jamm = existsSync(CASSANDRA_LIB) && readdirSync(CASSANDRA_LIB).find((f) => /^jamm-.*\.jar$/.test(f));
  if (!jamm) throw new Error(`Cassandra jars missing in ${CASSANDRA_LIB}: run scripts/services.sh install`);

  const listen = opts.listenAddress ?? '127.0.0.1';
  const datacenter = opts.datacenter ?? 'dc1';
  const ownsDir = opts.dataDir === undefined;
  const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'cassandra-')));
  const keepDir = ownsDir ? removeOnExit(dir) : () => false;
  const [p1, p2, p3] = await freePorts(3, listen);
  const nativePort = opts.nativePort ?? p1!;
  const storagePort = opts.storagePort ?? p2!;
  const sslStoragePort = p3!;
  const seeds = opts.seeds ?? `${listen}:${storagePort}`;

  const conf = join(dir, 'conf');
  const logs = join(dir, 'logs');
  await mkdir(conf, { recursive: true });
  await mkdir(logs, { recursive: true });
  await mkdir(join(dir, 'triggers'), { recursive: true });
  const yamlPath = join(conf, 'cassandra.yaml');
  const sec = opts.security;
  const stores = sec?.tls ? makeJavaStores(sec.tls.certs, STORE_PASSWORD, keytoolBinary()) : undefined;
  const rackdcPath = join(conf, 'cassandra-rackdc.properties');
  const logbackPath = join(conf, 'logback.xml');
  await writeFile(
    yamlPath,
    cassandraYaml({
      dir,
      listen,
      seeds,
      nativePort,
      storagePort,
      sslStoragePort,
      sasi: opts.sasiIndexesEnabled === true,
      passwordAuth: sec?.passwordAuth === true,
      ...(stores && sec?.tls
        ? { clientTls: { ...stores, password: STORE_PASSWORD, requireClientAuth: sec.tls.requireClientAuth } }
        : {}),
    }),
  );
  await writeFile(rackdcPath, `dc=${datacenter}\nrack=rack1\n`);
  await writeFile(logbackPath, logbackXml(join(logs, 'system.log')));

  const heap = opts.heap ?? '1G';
  const args = [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    '-XX:+UseG1GC',
    // Cassandra's startup check asks for this: a JVM limping on after OOM can corrupt data.
    '-XX:+ExitOnOutOfMemoryError',
    // No hsperfdata files in /tmp, and no JMX unless asked for (opts.jmxPort).
    '-XX:+PerfDisableSharedMem',
    ...(opts.jmxPort !== undefined ? [`-Dcassandra.jmx.local.port=${opts.jmxPort}`] : []),
    ...(opts.jvmFlags ?? []),
    '-Djava.net.preferIPv4Stack=true',
    '-Djdk.attach.allowAttachSelf=true',
    ...JVM17_MODULE_FLAGS,
    '-Dio.netty.tryReflectionSetAccessible=true',
    `-javaagent:${join(CASSANDRA_LIB, jamm)}`,
    `-Dcassandra.config=${pathToFileURL(yamlPath).href}`,
    `-Dcassandra-rackdc.properties=${pathToFileURL(rackdcPath).href}`,
    `-Dlogback.configurationFile=${pathToFileURL(logbackPath).href}`,
    `-Dcassandra.logdir=${logs}`,
    `-Dcassandra.storagedir=${join(dir, 'data')}`,
    `-Dcassandra.triggers_dir=${join(dir, 'triggers')}`,
    '-Dcassandra-foreground=yes',
    // Test nodes need not wait for gossip to settle as a production ring would.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=1000',
    '-Dcassandra.superuser_setup_delay_ms=0',
    '-cp',
    `${CASSANDRA_LIB}/*`,
    'org.apache.cassandra.service.CassandraDaemon',
  ];

  const started = Date.now();
  const proc = startProcess(javaBinary(), args, {
    cwd: dir,
    logFile: join(logs, 'stdout.log'),
    detached: opts.detached,
  });
  const endpoint: CassandraEndpoint = {
    contactPoints: [listen],
    port: nativePort,
    localDataCenter: datacenter,
  };
  const close = async (): Promise<void> => {
    // Cassandra's shutdown hook flushes memtables; a few seconds is enough for test data.
    await proc.stop(15_000);
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    keepDir();
  };

  const deadline = started + (opts.readyTimeoutMs ?? 240_000);
  for (;;) {
    const exited = proc.exitReason();
    if (exited !== undefined || Date.now() > deadline) {
      const why = exited ?? 'did not answer CQL in time';
      const logText = `${tail(join(logs, 'system.log'))}\n${proc.logTail()}`;
      await close();
      throw new Error(`Cassandra at ${listen}:${nativePort} ${why}; log tail:\n${logText}`);
    }
    // Probing the port first avoids building a driver client on every poll while the JVM boots.
    if (await canConnect(nativePort, listen)) {
      try {
        await queryReleaseVersion(endpoint, sec?.probe);
        break;
      } catch {
        // The port opens a moment before the node serves queries.
      }
    }
    await sleep(250);
  }
  return { ...endpoint, storagePort, pid: proc.pid, dir, startupMs: Date.now() - started, close };
}

let shared: Promise<CassandraEndpoint & { close(): Promise<void> }> | undefined;

/**
 * The Cassandra that tests should use. `scripts/test.ts` starts one per run and passes it in
 * `TEST_CASSANDRA` (JSON `{contactPoints, port, localDataCenter}`); then close() does nothing.
 * Without it (a test file run on its own), starts a node for this process.
 */
export function getSharedCassandra(): Promise<CassandraEndpoint & { close(): Promise<void> }> {
  const env = process.env.TEST_CASSANDRA;
  if (env) {
    const ep = JSON.parse(env) as CassandraEndpoint;
    return Promise.resolve({ ...ep, close: async () => {} });
  }
  if (!shared) {
    shared = startCassandra().then((node) => ({
      contactPoints: node.contactPoints,
      port: node.port,
      localDataCenter: node.localDataCenter,
      close: async () => {
        shared = undefined;
        await node.close();
      },
    }));
  }
  return shared;
}
