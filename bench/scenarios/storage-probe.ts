/**
 * Cassandra on its own, before any gateway is measured: the project's `CassandraStorage` runs
 * `appendMessage` — exactly the writes a `send` waits for — from this process, closed loop with
 * a fixed number of requests in flight, for a few seconds with a clientMsgId (dedup record by
 * lightweight transaction, then the message row and the conversation's last-message pointer)
 * and a few seconds without one (the two plain writes only).
 *
 * Two reasons. It warms the fresh Cassandra JVM up (its JIT compiles the write and Paxos paths
 * in the first minute of load; measured gateways would otherwise pay for it). And it gives the
 * ceiling a Cassandra-backed `send` cannot pass on this machine, whatever the gateway does.
 *
 * Given a Redis (`opts.redis`), a third phase runs the clientMsgId appends with a
 * `RedisDedupArbiter` instead of the lightweight transaction, right after the LWT phase, and a
 * fourth (`group_commit`) the same store with 64 appends in flight, each its own sender and
 * conversation: a store that groups concurrent writes into batches shows it there, as fewer CQL
 * requests per append and less Cassandra CPU per append. The reference for what batching can
 * give is the last phase, straight from the driver: unlogged batches of 32 message-row inserts,
 * each row its own partition (as a group commit across conversations would send them).
 *
 * Every phase reports Cassandra's CPU per append (per row for the raw batches) and the CQL
 * requests Cassandra served per append (`system_views.thread_pools`, Native-Transport-Requests).
 *
 * Standalone, with its own Cassandra and Redis (test/helpers), LWT vs arbiter vs no clientMsgId:
 *
 *   npx tsx bench/scenarios/storage-probe.ts [--seconds 10] [--concurrency 128] [--rounds 2]
 *
 * It first runs one unreported round (JIT warm-up of every path), then `--rounds` rounds, and
 * prints each round and the arbiter/LWT ratio per round.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import cassandraDriver, { type Client } from 'cassandra-driver';
import { arbiterDedup } from '../../src/storage/cassandra/dedup-arbiter.ts';
import { RedisDedupArbiter } from '../../src/storage/cassandra/redis-arbiter.ts';
import { bucketOfId, toLong } from '../../src/storage/cassandra/rows.ts';
import { CassandraStorage } from '../../src/storage/cassandra/storage.ts';
import { SnowflakeGenerator } from '../../src/util/snowflake.ts';
import { type CassandraEndpoint, startCassandra } from '../../test/helpers/cassandra.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { Histogram } from '../lib/histogram.ts';
import { cpuSeconds, loadAverage, machineInfo } from '../lib/proc-stats.ts';

export interface StorageProbePhase {
  appends_per_s: number;
  p50_ms: number;
  p99_ms: number;
  cassandra_cpu_s: number;
  /** Cassandra CPU per append (per row inserted, for the raw batches), µs. */
  cassandra_cpu_us_per_append?: number;
  /** CQL requests Cassandra's native transport served per append (a batch is one request). */
  cql_requests_per_append?: number;
  /** Appends (rows, for the raw batches) in flight. */
  in_flight?: number;
  /** Redis CPU seconds (arbiter phase, when Redis's pid is known). */
  redis_cpu_s?: number;
  seconds: number;
}

export interface StorageProbeResult {
  concurrency: number;
  with_client_msg_id: StorageProbePhase;
  /** With a Redis dedup arbiter instead of the LWT; only when the probe was given a Redis. */
  with_client_msg_id_arbiter?: StorageProbePhase;
  without_client_msg_id: StorageProbePhase;
  /** The arbiter store again, 64 appends in flight, every one its own conversation. */
  group_commit?: StorageProbePhase;
  /** Reference, straight from the driver: unlogged batches of 32 single-row inserts. */
  raw_unlogged_batch_32?: StorageProbePhase;
}

/** Appends in flight in the group-commit phase. */
const GROUP_COMMIT_IN_FLIGHT = 64;
/** Rows per raw unlogged batch, and batches in flight (so 128 rows in flight, as the other phases). */
const RAW_BATCH_ROWS = 32;
const RAW_BATCHES_IN_FLIGHT = 4;

/** Requests Cassandra's native transport has completed so far, from its own virtual table. */
async function cqlRequests(client: Client): Promise<number | null> {
  try {
    const rs = await client.execute(
      "SELECT completed_tasks FROM system_views.thread_pools WHERE name = 'Native-Transport-Requests'",
    );
    return Number(rs.first()?.get('completed_tasks') ?? Number.NaN);
  } catch {
    return null;
  }
}

const KEYSPACE = 'chat_bench_probe';

export async function storageProbe(
  cassandra: CassandraEndpoint & { pid: number },
  opts: {
    seconds: number;
    concurrency: number;
    log: (msg: string) => void;
    redis?: { url: string; pid?: number };
  },
): Promise<StorageProbeResult> {
  const options = {
    contactPoints: cassandra.contactPoints,
    port: cassandra.port,
    localDataCenter: cassandra.localDataCenter,
    keyspace: KEYSPACE,
    replicationFactor: 1,
  };
  const storage = new CassandraStorage(options);
  await storage.init();
  const arbitrated = opts.redis
    ? new CassandraStorage({
        ...options,
        migrate: false,
        dedup: arbiterDedup(
          new RedisDedupArbiter({ url: opts.redis.url, keyPrefix: `chat:${KEYSPACE}:dedup:` }),
        ),
      })
    : null;
  const ids = new SnowflakeGenerator(1, 31);
  // Client message ids must not repeat across probes against one keyspace (nor between phases).
  const run = randomBytes(4).toString('hex');
  let n = 0;
  // A plain driver session for the counters and the raw-batch reference; its own few requests
  // (two per phase) are subtracted from the request counts.
  const raw = new cassandraDriver.Client({
    contactPoints: cassandra.contactPoints,
    localDataCenter: cassandra.localDataCenter,
    protocolOptions: { port: cassandra.port },
    keyspace: KEYSPACE,
  });
  await raw.connect();
  const measured = async (
    inFlight: number,
    work: (h: Histogram, end: number) => Promise<number>,
    redisPid?: number,
  ): Promise<StorageProbePhase> => {
    const h = new Histogram();
    const req0 = await cqlRequests(raw);
    const cpu0 = cpuSeconds(cassandra.pid);
    const redisCpu0 = redisPid !== undefined ? cpuSeconds(redisPid) : 0;
    const started = performance.now();
    const count = await work(h, started + opts.seconds * 1000);
    const seconds = (performance.now() - started) / 1000;
    const cpuS = cpuSeconds(cassandra.pid) - cpu0;
    const req1 = await cqlRequests(raw);
    return {
      appends_per_s: Math.round(count / seconds),
      p50_ms: Math.round(h.percentile(50) / 10) / 100,
      p99_ms: Math.round(h.percentile(99) / 10) / 100,
      cassandra_cpu_s: Math.round(cpuS * 100) / 100,
      cassandra_cpu_us_per_append: count > 0 ? Math.round((cpuS * 1e6) / count) : 0,
      ...(req0 !== null && req1 !== null && count > 0
        ? { cql_requests_per_append: Math.round(((req1 - req0 - 1) / count) * 100) / 100 }
        : {}),
      in_flight: inFlight,
      ...(redisPid !== undefined
        ? { redis_cpu_s: Math.round((cpuSeconds(redisPid) - redisCpu0) * 100) / 100 }
        : {}),
      seconds: Math.round(seconds * 10) / 10,
    };
  };
  const phase = async (
    dedup: boolean,
    store: CassandraStorage = storage,
    inFlight = opts.concurrency,
  ): Promise<StorageProbePhase> => {
    const redisPid = store === arbitrated ? opts.redis?.pid : undefined;
    return measured(
      inFlight,
      async (h, end) => {
        let count = 0;
        const lane = async (lane: number) => {
          while (performance.now() < end) {
            const t = performance.now();
            const messageId = ids.next();
            // Every clientMsgId here is new, and says so as the bench's load generator and the
            // SDK do (`attempt: 1`): the arbiter store then skips its lookup of an earlier copy.
            await store.appendMessage(
              {
                conversationId: `dm:probe${lane}:probe${lane + 1}`,
                messageId,
                senderId: `probe${lane}`,
                clientMsgId: dedup ? `p-${run}-${n++}` : null,
                body: 'x'.repeat(100),
                createdAt: Date.now(),
              },
              { firstAttempt: true },
            );
            h.record((performance.now() - t) * 1000);
            count++;
          }
        };
        await Promise.all(Array.from({ length: inFlight }, (_, i) => lane(i)));
        return count;
      },
      redisPid,
    );
  };
  /** Unlogged batches of RAW_BATCH_ROWS message rows, each its own partition; counts rows. */
  const rawBatches = async (): Promise<StorageProbePhase> => {
    const insert =
      `INSERT INTO ${KEYSPACE}.messages (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at) ` +
      'VALUES (?, ?, ?, ?, ?, ?, ?)';
    return measured(RAW_BATCH_ROWS * RAW_BATCHES_IN_FLIGHT, async (h, end) => {
      let rows = 0;
      const lane = async (lane: number) => {
        while (performance.now() < end) {
          const t = performance.now();
          const queries = Array.from({ length: RAW_BATCH_ROWS }, (_, i) => {
            const id = ids.next();
            const conv = `dm:raw${lane}_${i}:raw${lane}_${i + 1}`;
            return {
              query: insert,
              params: [
                conv,
                bucketOfId(id),
                toLong(id),
                `raw${lane}_${i}`,
                `r-${run}-${n++}`,
                'x'.repeat(100),
                new Date(),
              ],
            };
          });
          await raw.batch(queries, {
            prepare: true,
            logged: false,
            consistency: cassandraDriver.types.consistencies.localQuorum,
          });
          // Each row is acked when its batch is: the batch's latency is every row's.
          const us = (performance.now() - t) * 1000;
          for (let i = 0; i < RAW_BATCH_ROWS; i++) h.record(us);
          rows += RAW_BATCH_ROWS;
        }
      };
      await Promise.all(Array.from({ length: RAW_BATCHES_IN_FLIGHT }, (_, i) => lane(i)));
      return rows;
    });
  };
  try {
    const withId = await phase(true);
    opts.log(`storage probe: ${withId.appends_per_s} appends/s with clientMsgId (p99 ${withId.p99_ms} ms)`);
    let withArbiter: StorageProbePhase | undefined;
    if (arbitrated) {
      await arbitrated.init();
      withArbiter = await phase(true, arbitrated);
      opts.log(
        `storage probe: ${withArbiter.appends_per_s} appends/s with clientMsgId and a Redis dedup arbiter ` +
          `(p99 ${withArbiter.p99_ms} ms)`,
      );
    }
    const withoutId = await phase(false);
    opts.log(`storage probe: ${withoutId.appends_per_s} appends/s without (p99 ${withoutId.p99_ms} ms)`);
    let groupCommit: StorageProbePhase | undefined;
    if (arbitrated) {
      groupCommit = await phase(true, arbitrated, GROUP_COMMIT_IN_FLIGHT);
      opts.log(
        `storage probe: ${groupCommit.appends_per_s} appends/s with ${GROUP_COMMIT_IN_FLIGHT} in flight (group commit row; ` +
          `${groupCommit.cql_requests_per_append ?? '?'} CQL requests and ` +
          `${groupCommit.cassandra_cpu_us_per_append} µs of Cassandra CPU per append)`,
      );
    }
    const rawBatch = await rawBatches();
    opts.log(
      `storage probe: ${rawBatch.appends_per_s} rows/s in unlogged batches of ${RAW_BATCH_ROWS} ` +
        `(${rawBatch.cassandra_cpu_us_per_append} µs of Cassandra CPU per row)`,
    );
    return {
      concurrency: opts.concurrency,
      with_client_msg_id: withId,
      ...(withArbiter ? { with_client_msg_id_arbiter: withArbiter } : {}),
      without_client_msg_id: withoutId,
      ...(groupCommit ? { group_commit: groupCommit } : {}),
      raw_unlogged_batch_32: rawBatch,
    };
  } finally {
    await Promise.allSettled([storage.close(), arbitrated?.close(), raw.shutdown()]);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '128' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  const started = Date.now();
  const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
  const machine = machineInfo();
  log(`${machine.nproc} CPUs (${machine.cpuModel}), load average ${loadAverage().join(' ')}`);
  const [cassandra, redis] = await Promise.all([startCassandra(), startRedis()]);
  try {
    log(`Cassandra up in ${(cassandra.startupMs / 1000).toFixed(1)} s; warming up (not reported)`);
    const probe = (s: number) =>
      storageProbe(cassandra, { seconds: s, concurrency, log, redis: { url: redis.url, pid: redis.pid } });
    await probe(Math.max(5, seconds / 2));
    const results: StorageProbeResult[] = [];
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round} of ${rounds}`);
      results.push(await probe(seconds));
    }
    for (const [i, r] of results.entries()) {
      const lwt = r.with_client_msg_id.appends_per_s;
      const arb = r.with_client_msg_id_arbiter?.appends_per_s ?? Number.NaN;
      const plain = r.without_client_msg_id.appends_per_s;
      log(
        `round ${i + 1}: LWT ${lwt}/s, arbiter ${arb}/s, no clientMsgId ${plain}/s; ` +
          `arbiter/LWT ${(arb / lwt).toFixed(2)}, arbiter/none ${(arb / plain).toFixed(2)}; ` +
          `Cassandra CPU per append: arbiter ${r.with_client_msg_id_arbiter?.cassandra_cpu_us_per_append ?? '?'} µs, ` +
          `group commit ${r.group_commit?.cassandra_cpu_us_per_append ?? '?'} µs ` +
          `(${r.group_commit?.cql_requests_per_append ?? '?'} CQL requests per append), ` +
          `unlogged batches of 32 ${r.raw_unlogged_batch_32?.cassandra_cpu_us_per_append ?? '?'} µs per row`,
      );
    }
    console.log(JSON.stringify({ load_average_after: loadAverage(), results }, null, 2));
  } finally {
    await Promise.allSettled([cassandra.close(), redis.close()]);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
