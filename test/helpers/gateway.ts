/** Starts gateways in-process on free ports, embedded by default, for tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGateway } from '../../src/app.ts';
import { parseEnv } from '../../src/config/env.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ChatConfig } from '../../src/config/schema.ts';
import { mintToken } from '../../src/gateway/auth.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import type { Presence } from '../../src/presence/types.ts';
import type { MemoryBus } from '../../src/routing/memory.ts';
import type { Router } from '../../src/routing/types.ts';
import { createLogger } from '../../src/util/log.ts';

/** Warnings and errors of test gateways, on stderr beside the test output. */
const testLog = createLogger({ level: 'warn', destination: 'stderr' });

export const TEST_SECRET = 'test-secret-at-least-16-chars';

export interface RegionOverrides {
  cassandra?: { contactPoints: string[]; port: number; localDataCenter: string; keyspace: string };
  redis?: { url: string };
  nats?: { servers: string[] };
  storeMigration?: { to: { dataDir: string } };
}

/**
 * The transport test gateways run on: CHAT_TRANSPORT's (parsed as `npm start` parses it), else
 * `auto`; a test file running suites on one transport sets it with `useTransport`.
 */
let transport: ChatConfig['transport'] = parseEnv(process.env).CHAT_TRANSPORT ?? 'auto';

export function useTransport(name: ChatConfig['transport']): void {
  transport = name;
}

export function testConfig(region: RegionOverrides = {}, extra: Record<string, unknown> = {}): ChatConfig {
  return parseConfig({
    regions: [{ name: 'test', id: 1, gateway: { host: '127.0.0.1', port: 0 }, ...region }],
    transport,
    auth: { secret: TEST_SECRET, devTokens: true },
    presence: { ttlMs: 3000, heartbeatMs: 500 },
    ...extra,
  });
}

export interface TestGateway {
  gateway: Gateway;
  url: string;
  httpUrl: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestGateway(
  opts: {
    config?: ChatConfig;
    dataDir?: string;
    workerId?: number;
    bus?: MemoryBus;
    presence?: Presence;
    /** Wraps the gateway's router (e.g. one that loses deliveries and reports the gap). */
    wrapRouter?: (router: Router) => Router;
    /** A fixed port (to restart a gateway where its clients expect it); default: any free one. */
    port?: number;
  } = {},
): Promise<TestGateway> {
  const config = opts.config ?? testConfig();
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'chat-gw-')));
  const gateway = await startGateway({
    config,
    region: config.regions[0]!,
    workerId: opts.workerId ?? 0,
    port: opts.port ?? config.regions[0]!.gateway.port,
    dataDir,
    ...(opts.bus ? { bus: opts.bus } : {}),
    ...(opts.presence ? { presence: opts.presence } : {}),
    ...(opts.wrapRouter ? { wrapRouter: opts.wrapRouter } : {}),
    // Gateway errors and warnings (failed registration, replay, background work) go to the test output.
    log: testLog,
  });
  return {
    gateway,
    url: gateway.url,
    httpUrl: gateway.httpUrl,
    dataDir,
    stop: async () => {
      await gateway.stop();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function token(userId: string, ttlSec = 3600): Promise<string> {
  return mintToken(TEST_SECRET, userId, ttlSec);
}
