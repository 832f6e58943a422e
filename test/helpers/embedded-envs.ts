/**
 * The embedded gateway environments the scenario suites run on (in-process, whichever transport
 * `useTransport` chose): one gateway, or two sharing one LMDB directory (several handles in one
 * process), one in-process bus and one presence.
 */

import { MemoryPresence } from '../../src/presence/memory.ts';
import { MemoryBus } from '../../src/routing/memory.ts';
import type { ScenarioEnv } from '../gateway.scenarios.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';

/** One embedded gateway; `check` sees it before the scenarios do. */
export async function oneEmbeddedGateway(check?: (gw: TestGateway) => void): Promise<ScenarioEnv> {
  const gw = await startTestGateway();
  check?.(gw);
  return { urls: [gw.url], stop: () => gw.stop() };
}

export async function twoEmbeddedGateways(): Promise<ScenarioEnv> {
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
}
