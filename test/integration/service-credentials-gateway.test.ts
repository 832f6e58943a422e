/**
 * A whole region with every backing service requiring credentials and TLS: Cassandra 5.0 with
 * `PasswordAuthenticator` and client encryption (client certificates required), Redis with TLS
 * and an ACL user, NATS with TLS (`verify`) and a user. The gateway, started as production starts
 * it (`node dist/main.js`, secrets from the environment), serves a conversation end to end; the
 * store refuses a wrong password, a missing client certificate and an untrusted CA at startup;
 * and a gateway given a wrong secret exits naming the service that refused it.
 *
 * All Cassandra credential and TLS checks live in this file: the secured node is an extra
 * Cassandra start (about a minute).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import cassandra from 'cassandra-driver';
import { stringify } from 'yaml';
import { ServiceStartError } from '../../src/errors.ts';
import { cassandraSecurityOptions } from '../../src/services/cassandra.ts';
import { createStorage } from '../../src/storage/index.ts';
import { type CassandraHandle, startCassandra } from '../helpers/cassandra.ts';
import { TestClient } from '../helpers/client.ts';
import { TEST_SECRET, token } from '../helpers/gateway.ts';
import { compiledGatewayArgs, type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.ts';
import { type NatsHandle, startNats } from '../helpers/nats.ts';
import { freePort } from '../helpers/ports.ts';
import { startProcess } from '../helpers/proc.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const REGION = 'secure';
const CASSANDRA_ROLE = { username: 'chat', password: 'cassandra-secret-1' };
const REDIS_USER = { name: 'chat', password: 'redis-secret-1' };
const NATS_USER = { user: 'chat', password: 'nats-secret-1' };
/** The secrets as a Kubernetes Secret would feed them. */
const SECRETS_ENV = {
  CHAT_CASSANDRA_USERNAME: CASSANDRA_ROLE.username,
  CHAT_CASSANDRA_PASSWORD: CASSANDRA_ROLE.password,
  CHAT_REDIS_USERNAME: REDIS_USER.name,
  CHAT_REDIS_PASSWORD: REDIS_USER.password,
  CHAT_NATS_USER: NATS_USER.user,
  CHAT_NATS_PASSWORD: NATS_USER.password,
};

describe('a gateway on Cassandra, Redis and NATS that all require credentials and TLS', () => {
  let certs: TestCerts;
  let node: CassandraHandle;
  let redis: RedisHandle;
  let nats: NatsHandle;
  let dir: string;
  let configFile: string;
  let gw: GatewayProcess | undefined;
  const clients: TestClient[] = [];
  const keyspace = `chat_cred_${randomBytes(3).toString('hex')}`;

  const clientTls = () => ({ caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey });
  const endpoint = () => ({
    contactPoints: node.contactPoints,
    port: node.port,
    localDataCenter: node.localDataCenter,
    keyspace,
  });

  before(async () => {
    certs = makeTestCerts();
    const superuser = { username: 'cassandra', password: 'cassandra', tls: clientTls() };
    [node, redis, nats] = await Promise.all([
      startCassandra({
        heap: '512M',
        security: {
          passwordAuth: true,
          tls: { certs, requireClientAuth: true },
          probe: cassandraSecurityOptions(superuser),
        },
      }),
      startRedis({ tls: certs, password: randomBytes(12).toString('hex'), aclUser: REDIS_USER }),
      startNats({ security: { tls: certs, verify: true, users: [NATS_USER] } }),
    ]);
    // The gateway's own role, not the built-in superuser.
    const admin = new cassandra.Client({
      contactPoints: node.contactPoints,
      localDataCenter: node.localDataCenter,
      protocolOptions: { port: node.port },
      ...cassandraSecurityOptions(superuser),
    });
    try {
      await admin.execute(
        `CREATE ROLE IF NOT EXISTS ${CASSANDRA_ROLE.username} WITH PASSWORD = '${CASSANDRA_ROLE.password}' AND LOGIN = true`,
      );
    } finally {
      await admin.shutdown();
    }
    dir = await mkdtemp(join(tmpdir(), 'chat-cred-'));
    configFile = join(dir, 'regions.yaml');
    // No secret in the file: usernames and passwords come from the environment.
    await writeFile(
      configFile,
      stringify({
        regions: [
          {
            name: REGION,
            id: 4,
            gateway: { host: '127.0.0.1', port: 0 },
            cassandra: { ...endpoint(), tls: clientTls() },
            redis: { url: redis.url, tls: clientTls() },
            nats: { servers: [nats.url], tls: clientTls() },
          },
        ],
        auth: { secret: TEST_SECRET },
      }),
    );
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.kill('SIGTERM');
    await Promise.allSettled([node?.close(), redis?.close(), nats?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
    certs?.remove();
  });

  it('scripts/migrate.ts applies the schema as the gateway role, over TLS', async () => {
    const args = [
      ...['--contact-points', node.contactPoints.join(','), '--port', String(node.port)],
      ...['--dc', node.localDataCenter, '--keyspace', keyspace, '--username', CASSANDRA_ROLE.username],
      ...['--tls-ca-file', certs.ca, '--tls-cert-file', certs.clientCert, '--tls-key-file', certs.clientKey],
    ];
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/migrate.ts', ...args],
      {
        cwd: ROOT,
        env: { ...process.env, CHAT_CASSANDRA_PASSWORD: CASSANDRA_ROLE.password },
      },
    );
    assert.match(stdout, /now at version \d+ \(applied/, stdout);
  });

  it('serves a conversation end to end, secrets from the environment', async () => {
    gw = await startGatewayProcess({
      configFile,
      region: REGION,
      port: await freePort(),
      workerId: 1,
      dir,
      env: SECRETS_ENV,
    });
    const connect = async (userId: string) => {
      const c = await TestClient.connect(gw!.url, await token(userId));
      clients.push(c);
      await c.waitFor((f) => f.op === 'synced');
      return c;
    };
    const [alice, bob] = [await connect('alice'), await connect('bob')];
    const dm = await alice.call('openDirect', { userId: 'bob' });
    const conversationId = dm.conversation.id;
    const sent = await alice.request('send', { conversationId, body: 'over TLS', clientMsgId: 'm1' });
    assert.equal(sent.op, 'sent', JSON.stringify(sent));
    const got = await bob.waitFor((f) => f.op === 'message');
    assert.equal((got.message as { body: string }).body, 'over TLS');
    // Presence went through Redis: bob sees alice online.
    const presence = await bob.call('subscribePresence', { userIds: ['alice'] });
    assert.deepEqual(
      presence.users.map((u) => u.status),
      ['online'],
    );
  });

  /** The store's start fails promptly as a ServiceStartError naming Cassandra. */
  async function storeRefused(security: Parameters<typeof cassandraSecurityOptions>[0]): Promise<string> {
    const storage = createStorage({ kind: 'cassandra', ...endpoint(), ...security });
    const t0 = Date.now();
    try {
      const err = await storage.init().then(
        () => assert.fail('init succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ServiceStartError, String(err));
      assert.equal(err.service, 'cassandra');
      assert.equal(err.component, 'storage');
      assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
      assert.ok(!err.message.includes(CASSANDRA_ROLE.password), 'no secret in the error');
      return err.message;
    } finally {
      await storage.close().catch(() => {});
    }
  }

  it('the store refuses a wrong password', async () => {
    const message = await storeRefused({ username: 'chat', password: 'wrong-password', tls: clientTls() });
    assert.match(message, /cassandra refused storage at 127\.0\.0\.1:\d+/);
    assert.match(message, /username .*password are incorrect/i);
  });

  it('the store refuses a missing client certificate', async () => {
    const message = await storeRefused({ ...CASSANDRA_ROLE, tls: { caFile: certs.ca } });
    assert.match(message, /certificate required|client certificate/i);
  });

  it('the store refuses a server certificate from an untrusted CA', async () => {
    const message = await storeRefused({ ...CASSANDRA_ROLE, tls: { ...clientTls(), caFile: certs.rogueCa } });
    assert.match(message, /certificate/i);
  });

  for (const [service, variable] of [
    ['cassandra', 'CHAT_CASSANDRA_PASSWORD'],
    ['redis', 'CHAT_REDIS_PASSWORD'],
    ['nats', 'CHAT_NATS_PASSWORD'],
  ] as const) {
    it(`a gateway with a wrong ${variable} exits, its log naming ${service} and why`, async () => {
      const logFile = join(dir, `refused-${service}.log`);
      const proc = startProcess(process.execPath, compiledGatewayArgs(), {
        cwd: ROOT,
        logFile,
        env: {
          ...process.env,
          ...SECRETS_ENV,
          [variable]: 'wrong-password',
          CHAT_CONFIG: configFile,
          CHAT_REGION: REGION,
          CHAT_PORT: String(await freePort()),
          CHAT_WORKER_ID: '2',
        },
      });
      const deadline = Date.now() + 60_000;
      while (proc.exitReason() === undefined && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const reason = proc.exitReason();
      if (reason === undefined) await proc.stop(1000);
      assert.equal(reason, 'exited with 1', proc.logTail());
      const fatal = proc
        .logTail(200)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg !== undefined && String(l.msg).startsWith('start failed'));
      assert.ok(fatal, proc.logTail());
      assert.equal(fatal.service, service, JSON.stringify(fatal));
      assert.match(String(fatal.msg), new RegExp(`${service} refused`));
      const leaks = proc
        .logTail(500)
        .split('\n')
        .filter((l) => l.includes('wrong-password'));
      assert.deepEqual(leaks, [], 'no secret in the log');
    });
  }
});
