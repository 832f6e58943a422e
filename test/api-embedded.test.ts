/**
 * The server API end to end on embedded gateways: one, and two sharing a store and an in-process
 * bus; and a revocation whose push a gateway missed, found by its periodic reread.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryPresence } from '../src/presence/memory.ts';
import { CloseCode } from '../src/protocol/index.ts';
import { MemoryBus } from '../src/routing/memory.ts';
import { API_KEY, type ApiEnv, apiScenarios } from './api.scenarios.ts';
import { TestClient } from './helpers/client.ts';
import { startTestGateway, testConfig, token } from './helpers/gateway.ts';

const config = () => testConfig({}, { api: { keys: { backend: API_KEY } } });

apiScenarios('one embedded gateway', async (): Promise<ApiEnv> => {
  const gw = await startTestGateway({ config: config() });
  return { httpUrls: [gw.httpUrl], wsUrls: [gw.url], stop: () => gw.stop() };
});

apiScenarios('two embedded gateways on one in-process bus', async (): Promise<ApiEnv> => {
  const bus = new MemoryBus();
  const presence = new MemoryPresence({ ttlMs: 3000 });
  await presence.start();
  const first = await startTestGateway({ config: config(), bus, presence, workerId: 1 });
  const second = await startTestGateway({
    config: config(),
    bus,
    presence,
    workerId: 2,
    dataDir: first.dataDir,
  });
  return {
    httpUrls: [first.httpUrl, second.httpUrl],
    wsUrls: [first.url, second.url],
    stop: async () => {
      await second.stop();
      await first.stop();
      await presence.close();
    },
  };
});

describe('revocation refresh', () => {
  it('closes the sessions of a revocation the gateway only finds in the store (its push was lost)', async () => {
    const gw = await startTestGateway({
      config: testConfig({}, { api: { keys: { backend: API_KEY }, revocationRefreshMs: 200 } }),
    });
    const c = await TestClient.connect(gw.url, await token('lostpush'));
    try {
      await c.waitFor((f) => f.op === 'synced');
      // Written to the store only, as if the control event never arrived.
      await gw.gateway.deps.storage.revocations.add({ kind: 'user', userId: 'lostpush', before: Date.now() });
      assert.equal(await c.waitClose(3000), CloseCode.Revoked);
    } finally {
      await c.close();
      await gw.stop();
    }
  });
});
