/** The server API end to end on two gateways of one region on Cassandra, Redis and NATS. */
import { randomBytes } from 'node:crypto';
import { Client } from 'cassandra-driver';
import { API_KEY, type ApiEnv, apiScenarios } from '../api.scenarios.ts';
import { getSharedCassandra } from '../helpers/cassandra.ts';
import { startTestGateway, testConfig } from '../helpers/gateway.ts';
import { startNats } from '../helpers/nats.ts';
import { startRedis } from '../helpers/redis.ts';

apiScenarios('two gateways on Cassandra + Redis + NATS', async (): Promise<ApiEnv> => {
  const cassandra = await getSharedCassandra();
  const redis = await startRedis();
  const nats = await startNats();
  const keyspace = `chat_api_${randomBytes(4).toString('hex')}`;
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
    { api: { keys: { backend: API_KEY } } },
  );
  const first = await startTestGateway({ config, workerId: 1 });
  const second = await startTestGateway({ config, workerId: 2 });
  return {
    httpUrls: [first.httpUrl, second.httpUrl],
    wsUrls: [first.url, second.url],
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
});
