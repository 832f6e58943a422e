/**
 * The Socket.IO redis adapter: with Redis in the region, the io servers of two gateways see each
 * other (fetchSockets, serverSideEmit). Room broadcasts are not exercised here: with two
 * gateways in one process socket.io's process-wide uWS patch publishes through the last app
 * attached (docs/architecture.md, "Socket.IO transport").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { startTestGateway, type TestGateway, testConfig, token } from '../helpers/gateway.ts';
import { IoTestClient, ioUrl } from '../helpers/io-client.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';

describe('Socket.IO across gateways (redis adapter)', () => {
  let redis: RedisHandle;
  let first: TestGateway;
  let second: TestGateway;
  const clients: IoTestClient[] = [];

  before(async () => {
    redis = await startRedis();
    const config = testConfig({ redis: { url: redis.url } });
    first = await startTestGateway({ config, workerId: 1 });
    second = await startTestGateway({ config, workerId: 2 });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await second?.stop();
    await first?.stop();
    await redis?.close();
  });

  it('lets one gateway find the Socket.IO connections of another and message its io server', async () => {
    for (const [gw, user] of [
      [first, 'adaptA'],
      [second, 'adaptB'],
    ] as const) {
      const c = await IoTestClient.connect(ioUrl(gw.url), await token(user), { transports: ['websocket'] });
      clients.push(c);
    }
    const io1 = first.gateway.socketIo.io;
    const io2 = second.gateway.socketIo.io;
    await eventually(async () => {
      const sockets = await io1.fetchSockets();
      assert.deepEqual(sockets.map((s) => s.data.identity.userId).sort(), ['adaptA', 'adaptB']);
    });
    const got = new Promise<unknown>((resolve) =>
      io2.on('ping-gateways', (payload: unknown) => resolve(payload)),
    );
    io1.serverSideEmit('ping-gateways', { from: first.gateway.gatewayId });
    assert.deepEqual(await got, { from: first.gateway.gatewayId });
  });
});
