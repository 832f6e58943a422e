/** The server API end to end on embedded gateways: one, and two sharing a store and an in-process bus. */
import { MemoryPresence } from '../src/presence/memory.ts';
import { MemoryBus } from '../src/routing/memory.ts';
import { API_KEY, type ApiEnv, apiScenarios } from './api.scenarios.ts';
import { startTestGateway, testConfig } from './helpers/gateway.ts';

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
