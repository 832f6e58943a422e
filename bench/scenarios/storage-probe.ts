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
 * `RedisDedupArbiter` instead of the lightweight transaction, right after the LWT phase.
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
import { arbiterDedup } from '../../src/storage/cassandra/dedup-arbiter.ts';
import { RedisDedupArbiter } from '../../src/storage/cassandra/redis-arbiter.ts';
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
  const phase = async (dedup: boolean, store: CassandraStorage = storage): Promise<StorageProbePhase> => {
    const h = new Histogram();
    const cpu0 = cpuSeconds(cassandra.pid);
    const redisPid = store === arbitrated ? opts.redis?.pid : undefined;
    const redisCpu0 = redisPid !== undefined ? cpuSeconds(redisPid) : 0;
    const started = performance.now();
    const end = started + opts.seconds * 1000;
    let count = 0;
    const lane = async (lane: number) => {
      while (performance.now() < end) {
        const t = performance.now();
        const messageId = ids.next();
        await store.appendMessage({
          conversationId: `dm:probe${lane}:probe${lane + 1}`,
          messageId,
          senderId: `probe${lane}`,
          clientMsgId: dedup ? `p-${run}-${n++}` : null,
          body: 'x'.repeat(100),
          createdAt: Date.now(),
        });
        h.record((performance.now() - t) * 1000);
        count++;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => lane(i)));
    const seconds = (performance.now() - started) / 1000;
    return {
      appends_per_s: Math.round(count / seconds),
      p50_ms: Math.round(h.percentile(50) / 10) / 100,
      p99_ms: Math.round(h.percentile(99) / 10) / 100,
      cassandra_cpu_s: Math.round((cpuSeconds(cassandra.pid) - cpu0) * 100) / 100,
      ...(redisPid !== undefined
        ? { redis_cpu_s: Math.round((cpuSeconds(redisPid) - redisCpu0) * 100) / 100 }
        : {}),
      seconds: Math.round(seconds * 10) / 10,
    };
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
    return {
      concurrency: opts.concurrency,
      with_client_msg_id: withId,
      ...(withArbiter ? { with_client_msg_id_arbiter: withArbiter } : {}),
      without_client_msg_id: withoutId,
    };
  } finally {
    await Promise.allSettled([storage.close(), arbitrated?.close()]);
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
          `arbiter/LWT ${(arb / lwt).toFixed(2)}, arbiter/none ${(arb / plain).toFixed(2)}`,
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
