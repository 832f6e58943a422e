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
 */

import { CassandraStorage } from '../../src/storage/cassandra.ts';
import { SnowflakeGenerator } from '../../src/util/snowflake.ts';
import type { CassandraEndpoint } from '../../test/helpers/cassandra.ts';
import { Histogram } from '../lib/histogram.ts';
import { cpuSeconds } from '../lib/proc-stats.ts';

export interface StorageProbeResult {
  concurrency: number;
  with_client_msg_id: {
    appends_per_s: number;
    p50_ms: number;
    p99_ms: number;
    cassandra_cpu_s: number;
    seconds: number;
  };
  without_client_msg_id: {
    appends_per_s: number;
    p50_ms: number;
    p99_ms: number;
    cassandra_cpu_s: number;
    seconds: number;
  };
}

export async function storageProbe(
  cassandra: CassandraEndpoint & { pid: number },
  opts: { seconds: number; concurrency: number; log: (msg: string) => void },
): Promise<StorageProbeResult> {
  const storage = new CassandraStorage({
    contactPoints: cassandra.contactPoints,
    port: cassandra.port,
    localDataCenter: cassandra.localDataCenter,
    keyspace: 'chat_bench_probe',
    replicationFactor: 1,
  });
  await storage.init();
  const ids = new SnowflakeGenerator(1, 31);
  let n = 0;
  const phase = async (dedup: boolean) => {
    const h = new Histogram();
    const cpu0 = cpuSeconds(cassandra.pid);
    const started = performance.now();
    const end = started + opts.seconds * 1000;
    let count = 0;
    const lane = async (lane: number) => {
      while (performance.now() < end) {
        const t = performance.now();
        const messageId = ids.next();
        await storage.appendMessage({
          conversationId: `dm:probe${lane}:probe${lane + 1}`,
          messageId,
          senderId: `probe${lane}`,
          clientMsgId: dedup ? `p-${n++}` : null,
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
      seconds: Math.round(seconds * 10) / 10,
    };
  };
  try {
    const withId = await phase(true);
    opts.log(`storage probe: ${withId.appends_per_s} appends/s with clientMsgId (p99 ${withId.p99_ms} ms)`);
    const withoutId = await phase(false);
    opts.log(`storage probe: ${withoutId.appends_per_s} appends/s without (p99 ${withoutId.p99_ms} ms)`);
    return { concurrency: opts.concurrency, with_client_msg_id: withId, without_client_msg_id: withoutId };
  } finally {
    await storage.close();
  }
}
