import { MemoryPresence } from '../src/presence/memory.ts';
import { MemoryBus } from '../src/routing/memory.ts';
import { gatewayScenarios } from './gateway.scenarios.ts';
import { startTestGateway } from './helpers/gateway.ts';

gatewayScenarios('one embedded gateway', async () => {
  const gw = await startTestGateway();
  return { urls: [gw.url], stop: () => gw.stop() };
});

gatewayScenarios('two embedded gateways on one in-process bus', async () => {
  // One store shared by both (LMDB supports several handles in one process), one bus.
  const bus = new MemoryBus();
  const presence = new MemoryPresence({ ttlMs: 3000 });
  await presence.start();
  const first = await startTestGateway({ bus, presence, workerId: 1 });
  const second = await startTestGateway({ bus, presence, workerId: 2, dataDir: first.dataDir });
  return {
    urls: [first.url, second.url],
    stop: async () => {
      await second.stop();
      await first.stop();
      await presence.close();
    },
  };
});
