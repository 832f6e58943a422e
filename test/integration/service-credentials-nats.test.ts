/**
 * NATS that requires TLS with client certificates (`verify: true`) and a user — by password, by
 * nkey, or by a user JWT in a `.creds` file (decentralized auth) — and one that requires a token: the gateway's router (the routing contract), webhook
 * queue and replication link connect with the right credentials; a wrong password, a missing
 * client certificate or an untrusted CA fails their start with a `ServiceStartError` naming NATS
 * (docs/operations.md, "Credentials and TLS").
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nkeys } from 'nats';
import { parseConfig } from '../../src/config/load.ts';
import { applyServiceSecrets } from '../../src/config/service-secrets.ts';
import { ConfigError, ServiceStartError } from '../../src/errors.ts';
import { CrossRegionLink } from '../../src/replication/index.ts';
import { NatsRouter } from '../../src/routing/index.ts';
import type { NatsTarget } from '../../src/services/nats.ts';
import { JetStreamWebhookQueue } from '../../src/webhooks/jetstream-queue.ts';
import { type NatsHandle, type NatsSupercluster, startNats, startNatsSupercluster } from '../helpers/nats.ts';
import { makeTestOperator } from '../helpers/nats-jwt.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.ts';
import { routingContract } from '../routing.contract.ts';
import { webhookQueueContract } from '../webhook-queue.contract.ts';

const USER = { user: 'chat', password: 'nats-user-secret-1' };
const TOKEN = 'nats-token-secret-1';

let certs: TestCerts;
let seedFile: string;
let nkeyPublic: string;
let secured: NatsHandle;
let tokenOnly: NatsHandle;
let cluster: NatsSupercluster;
/** Decentralized auth: a server trusting one operator's account, a user's `.creds` file. */
let withJwt: NatsHandle;
let credsFile: string;
let strangerCredsFile: string;
before(async () => {
  certs = makeTestCerts();
  // An nkey user: the server lists its public key, the gateway holds the seed in a file.
  const kp = nkeys.createUser();
  nkeyPublic = kp.getPublicKey();
  seedFile = join(certs.dir, 'gateway.nk');
  writeFileSync(seedFile, new TextDecoder().decode(kp.getSeed()), { mode: 0o600 });
  const security = { tls: certs, verify: true, users: [USER], nkeys: [nkeyPublic] };
  const op = await makeTestOperator();
  credsFile = await op.userCreds(certs.dir, 'gateway');
  strangerCredsFile = await op.strangerCreds(certs.dir, 'stranger');
  [secured, tokenOnly, cluster, withJwt] = await Promise.all([
    startNats({ jetstream: true, security }),
    startNats({ security: { token: TOKEN } }),
    startNatsSupercluster(['r1', 'r2'], { security }),
    startNats({ security: { tls: certs, verify: true, operator: op.operator } }),
  ]);
});
after(async () => {
  await Promise.all([secured?.close(), tokenOnly?.close(), cluster?.close(), withJwt?.close()]);
  certs?.remove();
});

const clientTls = () => ({ caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey });
const withPassword = (): NatsTarget => ({ servers: [secured.url], ...USER, tls: clientTls() });
const withNkey = (): NatsTarget => ({ servers: [secured.url], nkeySeedFile: seedFile, tls: clientTls() });

let n = 0;
const region = () => `cred${++n}`;

routingContract('nats with TLS (client certificates) and a password', () => {
  const r = region();
  return [
    new NatsRouter({ ...withPassword(), region: r, gatewayId: 'gw-a' }),
    new NatsRouter({ ...withPassword(), region: r, gatewayId: 'gw-b' }),
  ];
});

routingContract('nats with TLS and an nkey', () => {
  const r = region();
  return [
    new NatsRouter({ ...withNkey(), region: r, gatewayId: 'gw-a' }),
    new NatsRouter({ ...withNkey(), region: r, gatewayId: 'gw-b' }),
  ];
});

routingContract('nats with a token', () => {
  const r = region();
  return [
    new NatsRouter({ servers: [tokenOnly.url], token: TOKEN, region: r, gatewayId: 'gw-a' }),
    new NatsRouter({ servers: [tokenOnly.url], token: TOKEN, region: r, gatewayId: 'gw-b' }),
  ];
});

routingContract(
  'nats with TLS and a .creds file (a user JWT signed by an account the operator trusts)',
  () => {
    const r = region();
    const target = (): NatsTarget => ({ servers: [withJwt.url], credsFile, tls: clientTls() });
    return [
      new NatsRouter({ ...target(), region: r, gatewayId: 'gw-a' }),
      new NatsRouter({ ...target(), region: r, gatewayId: 'gw-b' }),
    ];
  },
);

webhookQueueContract('jetstream with TLS and a password', {
  async open(name, ackWaitMs) {
    const q = new JetStreamWebhookQueue({ ...withPassword(), region: name, ackWaitMs });
    await q.start();
    return q;
  },
});

/** A router's start fails promptly as a ServiceStartError naming NATS; returns its message. */
async function refused(target: NatsTarget): Promise<string> {
  const r = new NatsRouter({ ...target, region: region(), gatewayId: 'gw', connectTimeoutMs: 3000 });
  const t0 = Date.now();
  try {
    const err = await r.start({ onDelivery: () => {}, onControl: () => {}, onGap: () => {} }).then(
      () => assert.fail('start succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServiceStartError, String(err));
    assert.equal(err.service, 'nats');
    assert.equal(err.component, 'routing');
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    assert.ok(!err.message.includes(USER.password) && !err.message.includes(TOKEN), 'no secret in the error');
    return err.message;
  } finally {
    await r.close();
  }
}

describe('NATS credentials and TLS', () => {
  it('the replication link connects and replicates through a secured supercluster', async () => {
    const link = new CrossRegionLink({
      servers: [cluster.urls.r1!],
      ...USER,
      tls: clientTls(),
      region: 'r1',
      peers: ['r2'],
      outboxMaxAgeMs: 3600_000,
      duplicateWindowMs: 120_000,
    });
    try {
      await link.start();
      const got: string[] = [];
      await link.consume(async (data) => {
        got.push(new TextDecoder().decode(data));
      });
      await link.publishToSelf(new TextEncoder().encode('note to self'), 'e1', 'k1');
      const deadline = Date.now() + 10_000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(got, ['note to self']);
    } finally {
      await link.close();
    }
  });

  it('a wrong password fails the start with the server reason', async () => {
    const message = await refused({ ...withPassword(), password: 'wrong-password' });
    assert.match(message, /nats refused routing at tls:\/\/127\.0\.0\.1:\d+/);
    assert.match(message, /Authorization Violation/i);
  });

  it('a .creds file whose account the server does not trust fails the start', async () => {
    const message = await refused({ servers: [withJwt.url], credsFile: strangerCredsFile, tls: clientTls() });
    assert.match(message, /nats refused routing at tls:\/\/127\.0\.0\.1:\d+/);
    assert.match(message, /Authorization Violation/i);
  });

  it('a wrong token fails the start', async () => {
    assert.match(
      await refused({ servers: [tokenOnly.url], token: 'wrong-token' }),
      /Authorization Violation/i,
    );
  });

  it('a missing client certificate fails the start', async () => {
    assert.match(
      await refused({ ...withPassword(), tls: { caFile: certs.ca } }),
      /client certificate|certificate required/i,
    );
  });

  it('a server certificate from an untrusted CA fails the start', async () => {
    assert.match(
      await refused({ ...withPassword(), tls: { ...clientTls(), caFile: certs.rogueCa } }),
      /certificate/i,
    );
  });

  it('an unreadable nkey seed file stops the start as a config error naming the field', async () => {
    const r = new NatsRouter({
      ...withNkey(),
      nkeySeedFile: '/nonexistent/seed.nk',
      region: region(),
      gatewayId: 'gw',
    });
    await assert.rejects(
      r.start({ onDelivery: () => {}, onControl: () => {}, onGap: () => {} }),
      (err: unknown) => err instanceof ConfigError && err.path === 'nats.nkeySeedFile',
    );
    await r.close();
  });

  it('the environment supplies user and password; one way of authenticating only', () => {
    const config = parseConfig({
      regions: [
        { name: 'a', id: 0, gateway: { port: 0 }, nats: { servers: ['tls://n:4222'], user: 'chat' } },
      ],
      auth: { secret: 'x'.repeat(32) },
    });
    const region0 = config.regions[0]!;
    assert.throws(() => applyServiceSecrets(structuredClone(region0), {}), /user and password go together/);
    const withEnv = structuredClone(region0);
    applyServiceSecrets(withEnv, { CHAT_NATS_PASSWORD: 'from-a-secret' });
    assert.equal(withEnv.nats?.password, 'from-a-secret');
    assert.throws(
      () => applyServiceSecrets(structuredClone(region0), { CHAT_NATS_PASSWORD: 'p', CHAT_NATS_TOKEN: 't' }),
      /one of user\/password, token/,
    );
  });
});
