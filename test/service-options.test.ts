/**
 * The connection builders of src/services/ and the service secrets from the environment, without
 * servers (the servers that require them: test/integration/service-credentials-*.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseEnv, resolveStartup } from '../src/config/env.ts';
import { ConfigError } from '../src/errors.ts';
import { cassandraSecurityOptions } from '../src/services/cassandra.ts';
import { natsAuthOptions } from '../src/services/nats.ts';
import { describeRedis, redactCredentials, redisOptions } from '../src/services/redis.ts';

const dir = mkdtempSync(join(tmpdir(), 'service-options-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pem = join(dir, 'ca.pem');
writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n');

describe('redisOptions', () => {
  it('takes host, port, db and percent-encoded credentials from the url; rediss:// is TLS', () => {
    const o = redisOptions({ url: 'rediss://chat:p%40ss@redis.example:6380/2', tls: { caFile: pem } });
    assert.equal(o.host, 'redis.example');
    assert.equal(o.port, 6380);
    assert.equal(o.db, 2);
    assert.equal(o.username, 'chat');
    assert.equal(o.password, 'p@ss');
    assert.match(String(o.tls?.ca), /BEGIN CERTIFICATE/);
    assert.equal(o.tls?.rejectUnauthorized, true);
    assert.equal(redisOptions({ url: 'redis://h' }).port, 6379);
    assert.equal(redisOptions({ url: 'redis://h' }).tls, undefined);
  });

  it('username and password fields win over the url', () => {
    const o = redisOptions({ url: 'redis://a:b@h', username: 'chat', password: 'from-env' });
    assert.equal(o.username, 'chat');
    assert.equal(o.password, 'from-env');
  });

  it('Sentinel: the Sentinels, their own password, TLS to the primary when configured', () => {
    const o = redisOptions({
      sentinel: {
        sentinels: [{ host: 's1' }, { host: 's2', port: 5000 }],
        name: 'm',
        password: 'sp',
        tls: true,
      },
      password: 'pp',
      tls: { caFile: pem },
    });
    assert.deepEqual(o.sentinels, [
      { host: 's1', port: 26379 },
      { host: 's2', port: 5000 },
    ]);
    assert.equal(o.name, 'm');
    assert.equal(o.sentinelPassword, 'sp');
    assert.equal(o.password, 'pp');
    assert.equal(o.enableTLSForSentinelMode, true);
    assert.ok(o.sentinelTLS);
    assert.equal(
      describeRedis({ sentinel: { sentinels: [{ host: 's1' }], name: 'm' } }),
      'sentinel m via s1:26379',
    );
    assert.equal(describeRedis({ url: 'rediss://u:secret@h:1' }), 'rediss://h:1');
  });

  it('a missing TLS file is a config error naming the field', () => {
    assert.throws(
      () => redisOptions({ url: 'rediss://h', tls: { caFile: join(dir, 'missing.pem') } }),
      (err: unknown) => err instanceof ConfigError && err.path === 'redis.tls.caFile',
    );
  });

  it('redacts the password an AUTH error carries', () => {
    const err = Object.assign(new Error('WRONGPASS'), {
      command: { name: 'auth', args: ['chat', 'secret'] },
    });
    redactCredentials(err);
    assert.deepEqual(err.command.args, ['[redacted]']);
    const other = Object.assign(new Error('x'), { command: { name: 'get', args: ['k'] } });
    redactCredentials(other);
    assert.deepEqual(other.command.args, ['k']);
  });
});

describe('natsAuthOptions and cassandraSecurityOptions', () => {
  it('NATS: user/password, token, nkey seed file, and TLS for tls:// servers', () => {
    assert.deepEqual(natsAuthOptions({ servers: ['nats://h'], user: 'u', password: 'p' }), {
      user: 'u',
      pass: 'p',
    });
    assert.deepEqual(natsAuthOptions({ servers: ['nats://h'], token: 't' }), { token: 't' });
    const seed = join(dir, 'u.nk');
    writeFileSync(seed, 'SUAEXAMPLE\n');
    assert.equal(
      typeof natsAuthOptions({ servers: ['nats://h'], nkeySeedFile: seed }).authenticator,
      'function',
    );
    assert.equal(natsAuthOptions({ servers: ['tls://h'] }).tls?.ca, undefined);
    assert.ok(natsAuthOptions({ servers: ['tls://h'] }).tls);
    assert.match(String(natsAuthOptions({ servers: ['nats://h'], tls: { caFile: pem } }).tls?.ca), /BEGIN/);
  });

  it('Cassandra: a PlainTextAuthProvider and sslOptions only when configured', () => {
    assert.deepEqual(cassandraSecurityOptions({}), {});
    const o = cassandraSecurityOptions({ username: 'chat', password: 'p', tls: { caFile: pem } });
    assert.ok(o.authProvider);
    assert.equal(o.sslOptions?.rejectUnauthorized, true);
  });
});

describe('service secrets from the environment', () => {
  const file = join(dir, 'regions.yaml');
  writeFileSync(
    file,
    stringify({
      regions: [
        {
          name: 'a',
          id: 0,
          gateway: { port: 0 },
          cassandra: { contactPoints: ['c'], localDataCenter: 'dc', keyspace: 'ks', username: 'chat' },
          redis: { url: 'rediss://r:6380', sentinel: undefined },
          nats: { servers: ['tls://n'], user: 'chat' },
        },
      ],
      auth: { secret: 'x'.repeat(32) },
    }),
  );
  const start = (env: Record<string, string>) => resolveStartup(parseEnv({ CHAT_CONFIG: file, ...env }));

  it('fill the served region’s blocks', () => {
    const { region } = start({
      CHAT_CASSANDRA_PASSWORD: 'cp',
      CHAT_REDIS_USERNAME: 'ru',
      CHAT_REDIS_PASSWORD: 'rp',
      CHAT_NATS_PASSWORD: 'np',
    });
    assert.equal(region.cassandra?.password, 'cp');
    assert.equal(region.redis?.username, 'ru');
    assert.equal(region.redis?.password, 'rp');
    assert.equal(region.nats?.password, 'np');
  });

  it('a half pair fails the start naming the field', () => {
    assert.throws(() => start({ CHAT_NATS_PASSWORD: 'np' }), /regions\.a\.cassandra\.username/);
    assert.throws(
      () => start({ CHAT_CASSANDRA_PASSWORD: 'cp' }),
      /regions\.a\.nats\.user: user and password/,
    );
  });
});
