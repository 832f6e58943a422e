/**
 * Test clients for gateway scenario suites (test/*.scenarios.ts): raw WebSocket and Socket.IO
 * clients opened against the i-th gateway of a `ScenarioEnv` and waited on until `synced`, all
 * closed together after the suite; and a fresh user id per test, so tests sharing a store do not
 * see each other's data.
 */
import type { ScenarioEnv } from '../gateway.scenarios.ts';
import { type ConnectOptions, TestClient } from './client.ts';
import { token } from './gateway.ts';
import { type IoConnectOptions, IoTestClient, ioUrl } from './io-client.ts';

let userSeq = 0;
export function scenarioUser(name: string): string {
  return `${name}${process.pid}x${Date.now().toString(36)}x${++userSeq}`;
}

export interface ScenarioClients {
  open(i: number, userId: string, opts?: ConnectOptions): Promise<TestClient>;
  openIo(i: number, userId: string, opts?: IoConnectOptions): Promise<IoTestClient>;
  closeAll(): Promise<void>;
}

/** `env` is read at each call: suites set it in `before`. */
export function scenarioClients(env: () => ScenarioEnv): ScenarioClients {
  const clients: (TestClient | IoTestClient)[] = [];
  const urlFor = (i: number) => env().urls[i % env().urls.length]!;
  return {
    async open(i, userId, opts = {}) {
      const c = await TestClient.connect(urlFor(i), await token(userId), opts);
      clients.push(c);
      await c.waitFor((f) => f.op === 'synced', 30_000);
      return c;
    },
    async openIo(i, userId, opts = {}) {
      const c = await IoTestClient.connect(ioUrl(urlFor(i)), await token(userId), opts);
      clients.push(c);
      await c.waitFor((f) => f.op === 'synced', 30_000);
      return c;
    },
    async closeAll() {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}
