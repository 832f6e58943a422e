/**
 * What text search costs Cassandra 5.0, by index: the message table as the store has it (SAI on
 * client_msg_id) as the baseline; plus a `terms set<text>` column (the body's search terms,
 * computed by src/protocol/search.ts) with an SAI index on its values; or plus a SASI index on
 * the body with SASI's StandardAnalyzer (SASI is off by default in 5.0: this node enables it).
 * SAI in 5.0.9 has no tokenizing analyzer (`index_analyzer` is refused), so it cannot index body
 * words itself. Starts its own Cassandra (test/helpers).
 *
 * 1. Write cost: single prepared inserts, closed loop with `--concurrency` in flight, msgs/s and
 *    Cassandra CPU per message from /proc (compare bench/micro/cassandra-rows.ts).
 * 2. Query latency: `--conversations` × `--per-conversation` messages (one 10-day bucket each),
 *    flushed to SSTables, then sequential single-partition queries for a common term (~10% of
 *    messages), a rare one (~0.1%), an absent one and common AND rare, LIMIT 21, and a user-wide
 *    search: one rare-term query per conversation of the user (`--user-conversations`), 16 at a
 *    time, the way the store's search walks a bucket.
 *
 *   npx tsx bench/micro/search-index.ts [--seconds 8] [--concurrency 64]
 *     [--conversations 100] [--per-conversation 1000] [--user-conversations 20]
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { searchTerms } from '../../src/protocol/search.ts';
import { mapLimit } from '../../src/storage/common.ts';
import { startCassandra } from '../../test/helpers/cassandra.ts';
import { cpuSeconds } from '../lib/proc-stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '64' },
    conversations: { type: 'string', default: '100' },
    'per-conversation': { type: 'string', default: '1000' },
    'user-conversations': { type: 'string', default: '20' },
    queries: { type: 'string', default: '200' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const conversations = Number(values.conversations);
const perConversation = Number(values['per-conversation']);
const userConversations = Number(values['user-conversations']);
const queries = Number(values.queries);

const c = await startCassandra({ sasiIndexesEnabled: true, heap: '1G' });
const client = new cassandra.Client({
  contactPoints: c.contactPoints,
  protocolOptions: { port: c.port },
  localDataCenter: c.localDataCenter,
  socketOptions: { readTimeout: 60_000 },
});
await client.connect();
await client.execute(
  "CREATE KEYSPACE IF NOT EXISTS micro WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
);

type Kind = 'base' | 'sai' | 'sasi' | 'table';
const KINDS: Kind[] = ['base', 'sai', 'sasi', 'table'];

async function createTable(name: string, kind: Kind): Promise<void> {
  await client.execute(`CREATE TABLE IF NOT EXISTS micro.${name} (
    conversation_id text, bucket int, message_id bigint, sender_id text, client_msg_id text,
    body text, created_at timestamp, terms set<text>, PRIMARY KEY ((conversation_id, bucket), message_id))
    WITH CLUSTERING ORDER BY (message_id DESC)`);
  await client.execute(
    `CREATE INDEX IF NOT EXISTS ${name}_cmid ON micro.${name} (client_msg_id) USING 'sai'`,
  );
  if (kind === 'sai') {
    await client.execute(
      `CREATE INDEX IF NOT EXISTS ${name}_terms ON micro.${name} (VALUES(terms)) USING 'sai'`,
    );
  }
  if (kind === 'table') {
    // Postings beside the message: same partition key, so a message and its terms are one mutation.
    await client.execute(`CREATE TABLE IF NOT EXISTS micro.${name}_terms (
      conversation_id text, bucket int, term text, message_id bigint,
      PRIMARY KEY ((conversation_id, bucket), term, message_id))
      WITH CLUSTERING ORDER BY (term ASC, message_id DESC)`);
  }
  if (kind === 'sasi') {
    await client.execute(`CREATE CUSTOM INDEX IF NOT EXISTS ${name}_body ON micro.${name} (body)
      USING 'org.apache.cassandra.index.sasi.SASIIndex' WITH OPTIONS = {
        'mode': 'CONTAINS',
        'analyzer_class': 'org.apache.cassandra.index.sasi.analyzer.StandardAnalyzer',
        'tokenization_normalize_lowercase': 'true', 'tokenization_enable_stemming': 'false'}`);
  }
}

// Bodies: 12 words from a 5,000-word vocabulary with a skewed (cubic) distribution, plus the
// probe terms at fixed rates.
const VOCAB = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}x`);
function body(): string {
  const words = Array.from({ length: 12 }, () => VOCAB[Math.floor(VOCAB.length * Math.random() ** 3)]!);
  if (Math.random() < 0.1) words.push('alpha');
  if (Math.random() < 0.001) words.push('zephyr');
  return words.join(' ');
}

let seq = 0n;
type Row = { query: string; params: unknown[] };
/** One message's writes: its row, and for 'table' its postings rows. */
function writes(table: string, kind: Kind, conv: string): Row[] {
  const row = insert(table, kind, conv);
  if (kind !== 'table') return [row];
  const id = row.params[2];
  return [
    row,
    ...searchTerms(row.params[5] as string).map((term) => ({
      query: `INSERT INTO micro.${table}_terms (conversation_id, bucket, term, message_id) VALUES (?, ?, ?, ?)`,
      params: [conv, 1, term, id],
    })),
  ];
}
function insert(table: string, kind: Kind, conv: string): Row {
  seq++;
  const text = body();
  const withTerms = kind === 'sai';
  return {
    query: `INSERT INTO micro.${table} (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at${withTerms ? ', terms' : ''}) VALUES (?, ?, ?, ?, ?, ?, ?${withTerms ? ', ?' : ''})`,
    params: [
      conv,
      1,
      cassandra.types.Long.fromString(String(seq)),
      'u1',
      randomBytes(8).toString('hex'),
      text,
      new Date(),
      ...(withTerms ? [searchTerms(text)] : []),
    ],
  };
}

// ---- 1. write cost ------------------------------------------------------------------------

for (const kind of KINDS) await createTable(`w_${kind}`, kind);

async function writeRun(kind: Kind, secs: number): Promise<{ msgsPerS: number; cpuUsPerMsg: number }> {
  const end = performance.now() + secs * 1000;
  let msgs = 0;
  const cpu0 = cpuSeconds(c.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const rows = writes(`w_${kind}`, kind, `dm:u${Number(seq % 5000n)}:v${Number(seq % 7919n)}`);
        if (rows.length === 1) await client.execute(rows[0]!.query, rows[0]!.params, { prepare: true });
        else await client.batch(rows, { prepare: true, logged: false });
        msgs++;
      }
    }),
  );
  const secsRun = (performance.now() - t0) / 1000;
  return { msgsPerS: msgs / secsRun, cpuUsPerMsg: ((cpuSeconds(c.pid) - cpu0) / msgs) * 1e6 };
}

for (const kind of KINDS) await writeRun(kind, 4); // warm-up (JIT) of every path
for (let round = 1; round <= 2; round++) {
  for (const kind of KINDS) {
    const r = await writeRun(kind, seconds);
    console.log(
      `write round ${round}  ${kind.padEnd(5)} ${r.msgsPerS.toFixed(0).padStart(7)} msgs/s  ${r.cpuUsPerMsg.toFixed(0).padStart(5)} µs Cassandra CPU/msg`,
    );
  }
}

// ---- 2. query latency ---------------------------------------------------------------------

const convIds = Array.from({ length: conversations }, (_, i) => `g:${i}`);
const QUERY_KINDS = ['sai', 'sasi', 'table'] as const;
for (const kind of QUERY_KINDS) {
  await createTable(`q_${kind}`, kind);
  const t0 = performance.now();
  await mapLimit(convIds, 8, async (conv) => {
    for (let i = 0; i < perConversation; i += 50) {
      const n = Math.min(50, perConversation - i);
      const rows = Array.from({ length: n }, () => writes(`q_${kind}`, kind, conv)).flat();
      await client.batch(rows, { prepare: true, logged: false });
    }
  });
  console.log(
    `loaded q_${kind}: ${conversations * perConversation} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  // No JMX here for `nodetool flush`: a short flush period makes Cassandra write the memtable
  // out, so queries read SSTable indexes as they would for anything older than a few minutes.
  await client.execute(`ALTER TABLE micro.q_${kind} WITH memtable_flush_period_in_ms = 1000`);
  if (kind === 'table') {
    await client.execute(`ALTER TABLE micro.q_${kind}_terms WITH memtable_flush_period_in_ms = 1000`);
  }
}
const dataDir = join(c.dir, 'data/data/micro');
for (;;) {
  const dirs = readdirSync(dataDir).filter((d) => d.startsWith('q_'));
  const flushed = dirs.filter((d) => readdirSync(join(dataDir, d)).some((f) => f.endsWith('-Data.db')));
  if (flushed.length === QUERY_KINDS.length + 1) break;
  await sleep(500);
}
await sleep(3000);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const probes: { name: string; terms: string[] }[] = [
  { name: 'common (10%)', terms: ['alpha'] },
  { name: 'rare (0.1%)', terms: ['zephyr'] },
  { name: 'absent', terms: ['nowhere'] },
  { name: 'common AND rare', terms: ['alpha', 'zephyr'] },
];

function where(kind: 'sai' | 'sasi', terms: string[]): string {
  return terms.map(() => (kind === 'sai' ? 'terms CONTAINS ?' : 'body LIKE ?')).join(' AND ');
}

/**
 * One partition's newest 21 matches. For the postings table: the first term's postings newest
 * first, 100 at a time, then the rows of those ids, kept when the body has every term.
 */
async function searchPartition(
  kind: (typeof QUERY_KINDS)[number],
  conv: string,
  terms: string[],
): Promise<number> {
  if (kind !== 'table') {
    const q = `SELECT message_id, body FROM micro.q_${kind} WHERE conversation_id = ? AND bucket = 1 AND ${where(kind, terms)} LIMIT 21`;
    return (await client.execute(q, [conv, ...terms], { prepare: true })).rowLength;
  }
  let found = 0;
  let upper = cassandra.types.Long.MAX_VALUE;
  for (;;) {
    const postings = await client.execute(
      'SELECT message_id FROM micro.q_table_terms WHERE conversation_id = ? AND bucket = 1 AND term = ? AND message_id <= ? LIMIT 100',
      [conv, terms[0], upper],
      { prepare: true },
    );
    if (postings.rowLength === 0) return found;
    const ids = postings.rows.map((r) => r.get('message_id') as cassandra.types.Long);
    const rows = await client.execute(
      'SELECT message_id, body FROM micro.q_table WHERE conversation_id = ? AND bucket = 1 AND message_id IN ?',
      [conv, ids],
      { prepare: true },
    );
    for (const r of rows.rows) {
      const have = new Set(searchTerms(r.get('body') as string));
      if (terms.every((t) => have.has(t)) && ++found >= 21) return found;
    }
    if (postings.rowLength < 100) return found;
    upper = ids[ids.length - 1]!.subtract(1);
  }
}

for (const kind of QUERY_KINDS) {
  for (const probe of probes) {
    const lat: number[] = [];
    let hits = 0;
    try {
      for (let i = 0; i < queries; i++) {
        const conv = convIds[i % convIds.length]!;
        const t = performance.now();
        hits += await searchPartition(kind, conv, probe.terms);
        lat.push(performance.now() - t);
      }
      console.log(
        `query ${kind.padEnd(4)} ${probe.name.padEnd(16)} p50 ${pct(lat, 50).toFixed(2)} ms  p99 ${pct(lat, 99).toFixed(2)} ms  ${(hits / queries).toFixed(1)} rows/query`,
      );
    } catch (err) {
      console.log(`query ${kind.padEnd(4)} ${probe.name.padEnd(16)} refused: ${(err as Error).message}`);
    }
  }
  // A user's search: one query per conversation of theirs (one bucket), 16 at a time.
  const lat: number[] = [];
  for (let i = 0; i < Math.max(20, queries / 10); i++) {
    const start = (i * userConversations) % convIds.length;
    const mine = Array.from({ length: userConversations }, (_, k) => convIds[(start + k) % convIds.length]!);
    const t = performance.now();
    await mapLimit(mine, 16, (conv) => searchPartition(kind, conv, ['zephyr']));
    lat.push(performance.now() - t);
  }
  console.log(
    `query ${kind.padEnd(4)} user-wide rare, ${userConversations} conversations: p50 ${pct(lat, 50).toFixed(1)} ms  p99 ${pct(lat, 99).toFixed(1)} ms`,
  );
}

await client.shutdown();
await c.close();
