/**
 * Redis that requires TLS with client certificates, a password and an ACL user, and Sentinels
 * that require their own password (one also TLS on its own port): the gateway's presence and
 * dedup arbiter connect with the right
 * credentials, and a wrong password, a missing client certificate or an untrusted CA fails their
 * start at once with a `ServiceStartError` naming Redis (docs/operations.md, "Credentials and TLS").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { ServiceStartError } from '../../src/errors.ts';
import { RedisPresence } from '../../src/presence/index.ts';
import type { RedisConnection } from '../../src/services/redis.ts';
import { RedisDedupArbiter } from '../../src/storage/index.ts';
import { silentLogger } from '../../src/util/log.ts';
import { type RedisHandle, type SentinelHandle, startRedis, startSentinel } from '../helpers/redis.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.ts';

const ACL = { name: 'chat', password: 'chat-acl-secret-1' };
const DEFAULT_PASSWORD = 'default-user-secret-1';
const SENTINEL_PASSWORD = 'sentinel-secret-1';

let certs: TestCerts;
let redis: RedisHandle;
let sentinel: SentinelHandle;
/** A second Sentinel whose own port speaks TLS only (client certificates required). */
let tlsSentinel: SentinelHandle;
before(async () => {
  certs = makeTestCerts();
  redis = await startRedis({ tls: certs, password: DEFAULT_PASSWORD, aclUser: ACL });
  const monitoring = {
    primary: redis,
    name: 'chat-primary',
    auth: { user: ACL.name, password: ACL.password },
    password: SENTINEL_PASSWORD,
    tls: certs,
  };
  sentinel = await startSentinel(monitoring);
  tlsSentinel = await startSentinel({ ...monitoring, tlsPort: true });
});
after(async () => {
  await tlsSentinel?.close();
  await sentinel?.close();
  await redis?.close();
  certs?.remove();
});

const clientTls = () => ({ caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey });

/** Starts presence on `conn`, marks a user online and reads it back; closes it either way. */
async function presenceWorks(conn: RedisConnection): Promise<void> {
  const p = new RedisPresence({ ...conn, keyPrefix: `t-${Math.random()}:`, log: silentLogger });
  try {
    await p.start();
    await p.markOnline('alice', { connectionId: 'c1', gatewayId: 'g1', device: 'test' });
    assert.equal((await p.getPresence(['alice'])).get('alice')?.status, 'online');
  } finally {
    await p.close();
  }
}

/** The start fails promptly as a ServiceStartError naming Redis; returns its message. */
async function refused(conn: RedisConnection): Promise<string> {
  const p = new RedisPresence({ ...conn, log: silentLogger });
  const t0 = Date.now();
  try {
    const err = await p.start().then(
      () => assert.fail('start succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServiceStartError, String(err));
    assert.equal(err.service, 'redis');
    assert.equal(err.component, 'presence');
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.ok(
      !err.message.includes(DEFAULT_PASSWORD) && !err.message.includes(ACL.password),
      'no secret in the error',
    );
    return err.message;
  } finally {
    await p.close();
  }
}

describe('Redis with TLS, passwords and ACL users', () => {
  it('connects as an ACL user given in a rediss:// url', async () => {
    const url = redis.url.replace('rediss://', `rediss://${ACL.name}:${ACL.password}@`);
    await presenceWorks({ url, tls: clientTls() });
  });

  it('connects with username and password fields (the env-fed ones), and as the default user', async () => {
    await presenceWorks({ url: redis.url, username: ACL.name, password: ACL.password, tls: clientTls() });
    await presenceWorks({ url: redis.url, password: DEFAULT_PASSWORD, tls: clientTls() });
  });

  it('the dedup arbiter connects the same way', async () => {
    const a = new RedisDedupArbiter({
      url: redis.url,
      username: ACL.name,
      password: ACL.password,
      tls: clientTls(),
    });
    try {
      await a.init();
      assert.equal(await a.claim('k', 'v 1', 10_000), null);
      assert.equal(await a.claim('k', 'v 2', 10_000), 'v 1');
    } finally {
      await a.close();
    }
  });

  it('finds the primary through a password-protected Sentinel', async () => {
    await presenceWorks({
      sentinel: {
        sentinels: [{ host: sentinel.host, port: sentinel.port }],
        name: sentinel.name,
        password: SENTINEL_PASSWORD,
      },
      username: ACL.name,
      password: ACL.password,
      tls: clientTls(),
    });
  });

  it('finds the primary through a Sentinel reached over TLS (sentinel.tls), with client certificates', async () => {
    const conn = {
      sentinel: {
        sentinels: [{ host: tlsSentinel.host, port: tlsSentinel.port }],
        name: tlsSentinel.name,
        password: SENTINEL_PASSWORD,
        tls: true,
      },
      username: ACL.name,
      password: ACL.password,
      tls: clientTls(),
    };
    await presenceWorks(conn);
    // The same Sentinel without `sentinel.tls`: a plain connection to a TLS port is refused.
    const message = await refused({ ...conn, sentinel: { ...conn.sentinel, tls: false } });
    assert.match(message, /sentinel chat-primary via 127\.0\.0\.1:\d+/);
  });

  it('a wrong password fails the start, with Redis reason', async () => {
    const message = await refused({
      url: redis.url,
      username: ACL.name,
      password: 'wrong-password',
      tls: clientTls(),
    });
    assert.match(message, /WRONGPASS/);
    assert.match(message, /redis refused presence at rediss:\/\/127\.0\.0\.1:\d+/);
  });

  it('no password at all fails the start (NOAUTH on first use)', async () => {
    const message = await refused({ url: redis.url, tls: clientTls() });
    assert.match(message, /NOAUTH|Authentication required/i);
  });

  it('a missing client certificate fails the start', async () => {
    const message = await refused({ url: redis.url, password: DEFAULT_PASSWORD, tls: { caFile: certs.ca } });
    assert.match(message, /certificate required|client certificate/i);
  });

  it('a server certificate from an untrusted CA fails the start', async () => {
    const message = await refused({
      url: redis.url,
      password: DEFAULT_PASSWORD,
      tls: { ...clientTls(), caFile: certs.rogueCa },
    });
    assert.match(message, /certificate/i);
  });

  it('checks the certificate against tls.servername when set: the right name connects, another is refused', async () => {
    const base = { url: redis.url, password: DEFAULT_PASSWORD };
    await presenceWorks({ ...base, tls: { ...clientTls(), servername: 'localhost' } });
    const message = await refused({
      ...base,
      tls: { ...clientTls(), servername: 'redis.elsewhere.example' },
    });
    assert.match(message, /redis\.elsewhere\.example|altnames|ERR_TLS_CERT_ALTNAME_INVALID/i);
  });

  it('tls.rejectUnauthorized: false accepts a certificate no trusted CA signed (trying things out only)', async () => {
    const tls = { certFile: certs.clientCert, keyFile: certs.clientKey, caFile: certs.rogueCa };
    await refused({ url: redis.url, password: DEFAULT_PASSWORD, tls });
    await presenceWorks({
      url: redis.url,
      password: DEFAULT_PASSWORD,
      tls: { ...tls, rejectUnauthorized: false },
    });
  });

  it('a wrong Sentinel password fails the start instead of retrying forever', async () => {
    const message = await refused({
      sentinel: {
        sentinels: [{ host: sentinel.host, port: sentinel.port }],
        name: sentinel.name,
        password: 'wrong',
      },
      username: ACL.name,
      password: ACL.password,
      tls: clientTls(),
    });
    assert.match(message, /sentinel chat-primary via 127\.0\.0\.1:\d+/);
    assert.match(message, /WRONGPASS/);
  });

  it('the config takes rediss:// urls, credentials, TLS files and Sentinel', () => {
    const base = { id: 0, gateway: { port: 0 } };
    const config = parseConfig({
      regions: [
        {
          ...base,
          name: 'a',
          redis: { url: 'rediss://u:p@h:6380', tls: { caFile: '/ca.pem' } },
          nats: { servers: ['nats://n'] },
        },
        {
          ...base,
          id: 1,
          name: 'b',
          redis: { sentinel: { sentinels: [{ host: 's1' }], name: 'm', password: 'x' }, password: 'y' },
          nats: { servers: ['nats://n'] },
        },
      ],
      auth: { secret: 'x'.repeat(32) },
    });
    assert.equal(config.regions[0]?.redis?.tls?.rejectUnauthorized, true);
    assert.equal(config.regions[1]?.redis?.sentinel?.sentinels[0]?.port, 26379);
    assert.throws(
      () =>
        parseConfig({
          regions: [{ ...base, name: 'a', redis: { url: 'http://h' } }],
          auth: { secret: 'x'.repeat(32) },
        }),
      /redis/,
    );
    assert.throws(
      () =>
        parseConfig({
          regions: [
            {
              ...base,
              name: 'a',
              redis: { url: 'redis://h', sentinel: { sentinels: [{ host: 'h' }], name: 'm' } },
            },
          ],
          auth: { secret: 'x'.repeat(32) },
        }),
      /url or a sentinel/,
    );
  });
});
