/**
 * The chat scenarios on real services: Cassandra 5, Redis and NATS, with two gateways of one
 * region (users spread across them, so messages cross NATS and presence comes from Redis).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'cassandra-driver';
import { attachmentScenarios } from '../attachments.scenarios.ts';
import { gatewayScenarios, type ScenarioEnv } from '../gateway.scenarios.ts';
import { changeScenarios } from '../gateway-changes.scenarios.ts';
import { moderationScenarios } from '../gateway-moderation.scenarios.ts';
import { threadScenarios } from '../gateway-threads.scenarios.ts';
import { getSharedCassandra } from '../helpers/cassandra.ts';
import { startTestGateway, testConfig } from '../helpers/gateway.ts';
import { startNats } from '../helpers/nats.ts';
import { startRedis } from '../helpers/redis.ts';

/** Two gateways of one region on a fresh keyspace, Redis and NATS; `extra` is more config. */
async function realRegion(extra: Record<string, unknown> = {}): Promise<ScenarioEnv> {
  const cassandra = await getSharedCassandra();
  const redis = await startRedis();
  const nats = await startNats();
  const keyspace = `chat_it_${randomBytes(4).toString('hex')}`;
  const config = testConfig(
    {
      cassandra: {
        contactPoints: cassandra.contactPoints,
        port: cassandra.port,
        localDataCenter: cassandra.localDataCenter,
        keyspace,
      },
      redis: { url: redis.url },
      nats: { servers: [nats.url] },
    },
    extra,
  );
  const first = await startTestGateway({ config, workerId: 1 });
  const second = await startTestGateway({ config, workerId: 2 });
  return {
    urls: [first.url, second.url],
    stop: async () => {
      await second.stop();
      await first.stop();
      await nats.close();
      await redis.close();
      const client = new Client({
        contactPoints: cassandra.contactPoints,
        protocolOptions: { port: cassandra.port },
        localDataCenter: cassandra.localDataCenter,
      });
      await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      await client.shutdown();
      await cassandra.close();
    },
  };
}

gatewayScenarios('two gateways on Cassandra + Redis + NATS', () => realRegion());
changeScenarios('two gateways on Cassandra + Redis + NATS', () => realRegion());
moderationScenarios('two gateways on Cassandra + Redis + NATS', () => realRegion());
attachmentScenarios('two gateways on Cassandra + Redis + NATS', async () => {
  const maxBytes = 512 * 1024;
  return { ...(await realRegion({ attachments: { maxBytes } })), maxBytes };
});
threadScenarios('two gateways on Cassandra + Redis + NATS', () => realRegion());
