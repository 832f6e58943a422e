import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseEnv, resolveStartup, workerIdFromHostname } from '../src/config/env.ts';
import { embeddedConfig, loadConfigFile, parseConfig, selectRegion } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { compiledGatewayArgs } from './helpers/gateway-process.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

function errorPath(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.path;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('parses the repository regions.yaml', () => {
    const config = loadConfigFile(path.join(ROOT, 'regions.yaml'));
    assert.ok(config.regions.length >= 3);
    const us = selectRegion(config, 'us-east');
    assert.ok(us.cassandra && us.redis && us.nats);
    assert.equal(config.limits.maxFrameBytes, 64 * 1024);
  });

  it('fills defaults for embedded mode', () => {
    const c = embeddedConfig({ port: 0 });
    assert.equal(c.regions[0]!.cassandra, undefined);
    assert.equal(c.auth.devTokens, true);
    assert.equal(c.limits.rateLimitBurst, 100);
  });

  it('names the path of the bad field', () => {
    const base = { regions: [{ name: 'a', id: 1, gateway: { port: 1 } }], auth: { secret: 'x'.repeat(16) } };
    assert.equal(
      errorPath(() => parseConfig({ ...base, regions: [{ name: 'a', id: 99, gateway: { port: 1 } }] })),
      'regions.0.id',
    );
    assert.equal(
      errorPath(() => parseConfig({ ...base, regions: [{ name: 'a', id: 1, gateway: { port: 'x' } }] })),
      'regions.0.gateway.port',
    );
    assert.equal(
      errorPath(() => parseConfig({ ...base, limits: { maxFrameBytes: -1 } })),
      'limits.maxFrameBytes',
    );
    assert.equal(
      errorPath(() => parseConfig({ ...base, auth: {} })),
      'auth',
    );
    assert.equal(
      errorPath(() =>
        parseConfig({ ...base, regions: [...base.regions, { name: 'a', id: 2, gateway: { port: 2 } }] }),
      ),
      'regions.1.name',
    );
    assert.equal(
      errorPath(() => parseConfig({ ...base, presence: { ttlMs: 1000, heartbeatMs: 1000 } })),
      'presence.heartbeatMs',
    );
    assert.equal(
      errorPath(() => selectRegion(parseConfig(base), 'nowhere')),
      'regions',
    );
  });

  it('parses webhooks: none by default; endpoints checked for url, secret, events and unique names', () => {
    const base = { regions: [{ name: 'a', id: 1, gateway: { port: 1 } }], auth: { secret: 'x'.repeat(16) } };
    const plain = parseConfig(base);
    assert.deepEqual(plain.webhooks.endpoints, []);
    assert.equal(plain.webhooks.attempts, 8);
    const ep = {
      name: 'push',
      url: 'https://hooks.example/chat',
      secret: 's'.repeat(16),
      events: ['message.offline'],
    };
    assert.equal(parseConfig({ ...base, webhooks: { endpoints: [ep] } }).webhooks.endpoints[0]?.name, 'push');
    const bad = (webhooks: unknown) => errorPath(() => parseConfig({ ...base, webhooks }));
    assert.equal(bad({ endpoints: [{ ...ep, url: 'ftp://x/y' }] }), 'webhooks.endpoints.0.url');
    assert.equal(bad({ endpoints: [{ ...ep, secret: 'short' }] }), 'webhooks.endpoints.0.secret');
    assert.equal(bad({ endpoints: [{ ...ep, events: ['message.sent'] }] }), 'webhooks.endpoints.0.events.0');
    assert.equal(bad({ endpoints: [ep, ep] }), 'webhooks.endpoints');
    assert.equal(bad({ baseBackoffMs: 5000, maxBackoffMs: 1000 }), 'webhooks.baseBackoffMs');
  });

  it('makes the server exit 1 with the path on an invalid file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'chat-cfg-'));
    const file = path.join(dir, 'bad.yaml');
    await writeFile(
      file,
      'regions:\n  - name: x\n    id: 1\n    gateway: { port: 70000 }\nauth: { secret: "0123456789abcdef" }\n',
    );
    const r = spawnSync(process.execPath, compiledGatewayArgs(), {
      cwd: ROOT,
      env: { ...process.env, CHAT_CONFIG: file },
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /regions\.0\.gateway\.port/);
  });
});

describe('snowflake ids', () => {
  it('are increasing, unique and carry their region and time', async () => {
    const { SnowflakeGenerator, snowflakeRegion, snowflakeTime } = await import('../src/util/snowflake.ts');
    let now = 1_800_000_000_000;
    const gen = new SnowflakeGenerator(7, 3, () => now);
    const ids: bigint[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(gen.next());
    now -= 5; // clock steps back: ids must still increase
    ids.push(gen.next());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!);
    assert.equal(snowflakeRegion(ids[0]!), 7);
    assert.equal(snowflakeTime(ids[0]!), 1_800_000_000_000);
  });
});

describe('CHAT_WORKER_ID=ordinal', () => {
  it('takes the worker id from a StatefulSet pod name', () => {
    assert.equal(workerIdFromHostname('chat-gateway-0'), 0);
    assert.equal(workerIdFromHostname('chat-gateway-31'), 31);
    assert.equal(parseEnv({ CHAT_WORKER_ID: 'ordinal' }).CHAT_WORKER_ID, 'ordinal');
    assert.equal(parseEnv({ CHAT_WORKER_ID: '12' }).CHAT_WORKER_ID, 12);
    // This machine's host name decides; resolveStartup applies it (or refuses it, naming it).
    try {
      const id = resolveStartup(
        parseEnv({ CHAT_WORKER_ID: 'ordinal', CHAT_OPERATOR_TOKEN: 'x'.repeat(16) }),
      ).workerId;
      assert.ok(id >= 0 && id <= 31);
    } catch (err) {
      assert.ok(err instanceof ConfigError && err.path === 'env.CHAT_WORKER_ID', String(err));
    }
  });

  it('refuses a host name without an ordinal in 0..31', () => {
    for (const name of ['chat-gateway-32', 'chat-gateway', 'gateway7', 'chat-gateway-']) {
      assert.equal(
        errorPath(() => workerIdFromHostname(name)),
        'env.CHAT_WORKER_ID',
        name,
      );
    }
    assert.equal(
      errorPath(() => parseEnv({ CHAT_WORKER_ID: 'pod' })),
      'env.CHAT_WORKER_ID',
    );
    assert.equal(
      errorPath(() => parseEnv({ CHAT_WORKER_ID: '32' })),
      'env.CHAT_WORKER_ID',
    );
  });
});
