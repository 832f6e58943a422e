/**
 * What a message row costs Cassandra, by how it is written: single prepared inserts vs unlogged
 * batches, with and without an SAI index on `client_msg_id`, and with a second (dedup) row per
 * message. Starts its own Cassandra (test/helpers), closed loop with a fixed number of requests
 * in flight, reports rows/s and Cassandra CPU per message from /proc.
 *
 *   npx tsx bench/micro/cassandra-rows.ts [--seconds 8] [--concurrency 64] [--batch 32]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { startCassandra } from '../../test/helpers/cassandra.ts';
import { cpuSeconds } from '../lib/proc-stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '64' },
    batch: { type: 'string', default: '32' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const batchSize = Number(values.batch);

const c = await startCassandra();
const client = new cassandra.Client({
  contactPoints: c.contactPoints,
  protocolOptions: { port: c.port },
  localDataCenter: c.localDataCenter,
});
await client.connect();
await client.execute(
  "CREATE KEYSPACE IF NOT EXISTS micro WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
);
for (const t of ['plain', 'sai']) {
  await client.execute(`CREATE TABLE IF NOT EXISTS micro.${t} (
    conversation_id text, bucket int, message_id bigint, sender_id text, client_msg_id text,
    body text, created_at timestamp, PRIMARY KEY ((conversation_id, bucket), message_id))
    WITH CLUSTERING ORDER BY (message_id DESC)`);
}
await client.execute(`CREATE INDEX IF NOT EXISTS sai_cmid ON micro.sai (client_msg_id) USING 'sai'`);
await client.execute(`CREATE TABLE IF NOT EXISTS micro.dedup (sender_id text, client_msg_id text,
  conversation_id text, message_id bigint, PRIMARY KEY ((sender_id, client_msg_id)))`);

let seq = 0n;
function messageRow(table: string): { query: string; params: unknown[] } {
  seq++;
  const conv = `dm:u${Number(seq % 5000n)}:v${Number(seq % 7919n)}`;
  return {
    query: `INSERT INTO micro.${table} (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    params: [
      conv,
      1,
      cassandra.types.Long.fromString(String(seq)),
      'u1',
      randomBytes(8).toString('hex'),
      'hello there, a bench body of some length',
      new Date(),
    ],
  };
}
function dedupRow(): { query: string; params: unknown[] } {
  return {
    query:
      'INSERT INTO micro.dedup (sender_id, client_msg_id, conversation_id, message_id) VALUES (?, ?, ?, ?)',
    params: [
      `u${Number(seq % 5000n)}`,
      randomBytes(8).toString('hex'),
      'dm:x:y',
      cassandra.types.Long.fromString(String(seq)),
    ],
  };
}

type Mode = { name: string; perOp: number; op: () => Promise<unknown> };
const modes: Mode[] = [
  {
    name: 'single insert, no index',
    perOp: 1,
    op: () => {
      const r = messageRow('plain');
      return client.execute(r.query, r.params, { prepare: true });
    },
  },
  {
    name: 'single insert, SAI',
    perOp: 1,
    op: () => {
      const r = messageRow('sai');
      return client.execute(r.query, r.params, { prepare: true });
    },
  },
  {
    name: `batch ${batchSize}, no index`,
    perOp: batchSize,
    op: () =>
      client.batch(
        Array.from({ length: batchSize }, () => messageRow('plain')),
        { prepare: true, logged: false },
      ),
  },
  {
    name: `batch ${batchSize}, SAI`,
    perOp: batchSize,
    op: () =>
      client.batch(
        Array.from({ length: batchSize }, () => messageRow('sai')),
        { prepare: true, logged: false },
      ),
  },
  {
    name: `batch ${batchSize}, no index + dedup row`,
    perOp: batchSize,
    op: () =>
      client.batch(Array.from({ length: batchSize }, () => [messageRow('plain'), dedupRow()]).flat(), {
        prepare: true,
        logged: false,
      }),
  },
];

async function run(mode: Mode, secs: number): Promise<{ msgsPerS: number; cpuUsPerMsg: number }> {
  const end = performance.now() + secs * 1000;
  let msgs = 0;
  const cpu0 = cpuSeconds(c.pid);
  const t0 = performance.now();
  const inflight = Math.max(1, Math.round(concurrency / mode.perOp));
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        await mode.op();
        msgs += mode.perOp;
      }
    }),
  );
  const secsRun = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(c.pid) - cpu0;
  return { msgsPerS: msgs / secsRun, cpuUsPerMsg: (cpu / msgs) * 1e6 };
}

for (const m of modes) await run(m, 4); // warm-up (JIT) of every path
for (let round = 1; round <= 2; round++) {
  for (const m of modes) {
    const r = await run(m, seconds);
    console.log(
      `round ${round}  ${m.name.padEnd(34)} ${r.msgsPerS.toFixed(0).padStart(7)} msgs/s  ${r.cpuUsPerMsg.toFixed(0).padStart(5)} µs Cassandra CPU/msg`,
    );
  }
}
await client.shutdown();
await c.close();
