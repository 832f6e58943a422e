/**
 * How fast a region applies a backlog of replicated messages: the store half of the cross-region
 * leg, without load generator or sockets. Region A (embedded store) publishes `--messages` DMs
 * over `--conversations` conversations into its outbox; once region B's inbox holds them all,
 * B starts its consumer and the time until every message is stored in its Cassandra keyspace
 * (dedup claims in Redis, as a gateway does) and handed to a sink that only counts is the drain.
 * The sink skips the live fan-out, which for connected recipients is local and cheap.
 *
 *   npx tsx bench/micro/xregion-apply.ts [--messages 4000] [--conversations 200]
 *
 * Starts its own Cassandra, Redis and two-region NATS supercluster; prints one JSON line.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Directory } from '../../src/config/directory.ts';
import { CrossRegionLink, Replication } from '../../src/replication/index.ts';
import { CassandraStorage } from '../../src/storage/cassandra/storage.ts';
import { EmbeddedStorage } from '../../src/storage/embedded.ts';
import { arbiterDedup, RedisDedupArbiter } from '../../src/storage/index.ts';
import { SnowflakeGenerator } from '../../src/util/snowflake.ts';
import { startCassandra } from '../../test/helpers/cassandra.ts';
import { eventually } from '../../test/helpers/eventually.ts';
import { startNatsSupercluster } from '../../test/helpers/nats.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { cpuSeconds } from '../lib/proc-stats.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '4000' },
    conversations: { type: 'string', default: '200' },
  },
});
const MESSAGES = Number(values.messages);
const CONVERSATIONS = Number(values.conversations);
const REGIONS = ['us-east', 'eu-west'];

const cassandra = await startCassandra();
const redis = await startRedis();
const nats = await startNatsSupercluster(REGIONS);
const dir = await mkdtemp(join(tmpdir(), 'xapply-bench-'));
const link = (region: string) =>
  new CrossRegionLink({
    servers: [nats.urls[region]!],
    region,
    peers: REGIONS.filter((r) => r !== region),
    outboxMaxAgeMs: 3600_000,
    duplicateWindowMs: 120_000,
  });
try {
  const usStore = new EmbeddedStorage({ dataDir: dir });
  await usStore.init();
  const usLink = link('us-east');
  await usLink.start();
  const us = new Replication('us-east', usLink, new Directory(REGIONS), usStore);

  const keyspace = `chat_xapply_${randomBytes(3).toString('hex')}`;
  const euStore = new CassandraStorage({
    contactPoints: cassandra.contactPoints,
    port: cassandra.port,
    localDataCenter: cassandra.localDataCenter,
    keyspace,
    replicationFactor: 1,
    dedup: arbiterDedup(new RedisDedupArbiter({ url: redis.url, keyPrefix: `chat:${keyspace}:dedup:` })),
  });
  await euStore.init();
  const euLink = link('eu-west');
  await euLink.start();
  const eu = new Replication('eu-west', euLink, new Directory(REGIONS), euStore);

  const ids = new SnowflakeGenerator(1, 0);
  const conversations = Array.from({ length: CONVERSATIONS }, (_, c) => `dm:a${c}:b${c}`);
  await Promise.all(
    conversations.map((id, c) =>
      us.storage.createConversation(
        { id, kind: 'direct', title: '', createdBy: `a${c}`, createdAt: Date.now() },
        [`a${c}`, `b${c}`],
      ),
    ),
  );
  const lanes = conversations.map(async (conversationId, c) => {
    for (let i = c; i < MESSAGES; i += CONVERSATIONS) {
      await us.storage.appendMessage({
        conversationId,
        messageId: ids.next(),
        senderId: `a${c}`,
        clientMsgId: `m${i}`,
        body: 'x'.repeat(100),
        createdAt: Date.now(),
      });
    }
  });
  await Promise.all(lanes);
  const events = CONVERSATIONS + MESSAGES;
  await eventually(
    async () => {
      const pending = (await eu.backlog()).inboxPending;
      if (pending !== events) throw new Error(`inbox holds ${pending} of ${events}`);
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );

  let applied = 0;
  const cpu0 = {
    self: process.cpuUsage(),
    cassandra: cpuSeconds(cassandra.pid),
    redis: cpuSeconds(redis.pid),
  };
  const t0 = performance.now();
  await eu.start({
    async deliverMessage() {
      applied++;
    },
    async deliverConversation() {},
    async deliverReceipt() {},
    async deliverChange() {},
  });
  await eventually(
    () => {
      if (applied < MESSAGES) throw new Error(`${applied} of ${MESSAGES} applied`);
    },
    { timeoutMs: 600_000, intervalMs: 20 },
  );
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(cpu0.self);
  console.log(
    JSON.stringify({
      messages: MESSAGES,
      conversations: CONVERSATIONS,
      drain_s: Number(seconds.toFixed(2)),
      applied_per_s: Math.round(MESSAGES / seconds),
      cpu_s: {
        applier: Number(((self.user + self.system) / 1e6).toFixed(2)),
        cassandra: Number((cpuSeconds(cassandra.pid) - cpu0.cassandra).toFixed(2)),
        redis: Number((cpuSeconds(redis.pid) - cpu0.redis).toFixed(2)),
      },
      load: (await import('node:os')).loadavg().map((l) => Number(l.toFixed(2))),
    }),
  );
  await us.close();
  await eu.close();
  await usStore.close();
  await euStore.close();
} finally {
  await nats.close();
  await redis.close();
  await cassandra.close();
  await rm(dir, { recursive: true, force: true });
}
