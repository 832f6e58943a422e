// Tests the test helpers themselves against the real servers they start.
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { connect, StringCodec } from 'nats';
import { getSharedCassandra } from './helpers/cassandra.ts';
import { eventually } from './helpers/eventually.ts';
import { startNats, startNatsSupercluster } from './helpers/nats.ts';
import { freePort, freePorts } from './helpers/ports.ts';
import { startRedis } from './helpers/redis.ts';

const sc = StringCodec();

/** Sends one inline Redis command and returns the raw reply. */
function redisCommand(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: '127.0.0.1', port }, () => sock.write(`${line}\r\n`));
    sock.once('error', reject);
    sock.once('data', (buf) => {
      sock.end();
      resolve(buf.toString());
    });
  });
}

describe('ports and eventually', () => {
  it('freePorts returns distinct usable ports', async () => {
    const ports = await freePorts(5);
    assert.equal(new Set(ports).size, 5);
    assert.ok((await freePort()) > 0);
  });

  it('eventually retries until success and rethrows the last error on timeout', async () => {
    let calls = 0;
    assert.equal(
      await eventually(() => (++calls < 3 ? assert.fail('not yet') : 'ok'), { intervalMs: 1 }),
      'ok',
    );
    await assert.rejects(
      eventually(() => assert.fail('never'), { timeoutMs: 30, intervalMs: 5 }),
      /never/,
    );
  });
});

describe('startRedis', () => {
  it('runs a redis that answers commands, and close() stops it', async () => {
    const redis = await startRedis();
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await redisCommand(redis.port, 'SET k v'), '+OK\r\n');
    assert.equal(await redisCommand(redis.port, 'GET k'), '$1\r\nv\r\n');
    await redis.close();
    await assert.rejects(redisCommand(redis.port, 'PING'));
  });
});

describe('startNats', () => {
  it('runs a nats-server with JetStream', async () => {
    const nats = await startNats({ jetstream: true });
    after(() => nats.close());
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'HELPERS', subjects: ['helpers.>'] });
      const ack = await nc.jetstream().publish('helpers.a', sc.encode('hello'));
      assert.equal(ack.seq, 1);
      const msg = await jsm.streams.getMessage('HELPERS', { seq: 1 });
      assert.equal(sc.decode(msg.data), 'hello');
    } finally {
      await nc.close();
    }
  });

  it('runs a supercluster whose regions exchange messages', async () => {
    const cluster = await startNatsSupercluster(['us-east', 'eu-west']);
    after(() => cluster.close());
    const east = await connect({ servers: cluster.urls['us-east'] });
    const west = await connect({ servers: cluster.urls['eu-west'] });
    try {
      const sub = west.subscribe('room.>', { max: 1 });
      await west.flush();
      const received = (async () => {
        for await (const m of sub) return `${m.subject} ${sc.decode(m.data)}`;
      })();
      // West's interest can reach us-east's gateway a moment after west.flush(), so resend
      // until it arrives rather than race it.
      let got: string | undefined;
      void received.then((r) => {
        got = r;
      });
      await eventually(
        () => {
          if (got === undefined) {
            east.publish('room.1', sc.encode('from us-east'));
            throw new Error('not delivered yet');
          }
        },
        { timeoutMs: 5000, intervalMs: 50 },
      );
      assert.equal(got, 'room.1 from us-east');
    } finally {
      await east.close();
      await west.close();
    }
  });
});

describe('getSharedCassandra', () => {
  it('answers CQL', { timeout: 300_000 }, async () => {
    const node = await getSharedCassandra();
    after(() => node.close());
    const client = new cassandra.Client({
      contactPoints: node.contactPoints,
      localDataCenter: node.localDataCenter,
      protocolOptions: { port: node.port },
    });
    try {
      await client.connect();
      const local = await client.execute('SELECT release_version, data_center FROM system.local');
      assert.match(String(local.first().get('release_version')), /^5\.0\./);
      assert.equal(local.first().get('data_center'), node.localDataCenter);
      await client.execute(
        "CREATE KEYSPACE IF NOT EXISTS helpers_test WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
      );
      await client.execute('CREATE TABLE IF NOT EXISTS helpers_test.kv (k text PRIMARY KEY, v int)');
      await client.execute('INSERT INTO helpers_test.kv (k, v) VALUES (?, ?)', ['a', 42], { prepare: true });
      const rs = await client.execute('SELECT v FROM helpers_test.kv WHERE k = ?', ['a'], { prepare: true });
      assert.equal(rs.first().get('v'), 42);
      await client.execute('DROP KEYSPACE helpers_test');
    } finally {
      await client.shutdown();
    }
  });
});
