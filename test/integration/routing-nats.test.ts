import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRouter, NatsRouter } from '../../src/routing/index.ts';
import type { Delivery, Routed, RoutingGap } from '../../src/routing/types.ts';
import { eventually } from '../helpers/eventually.ts';
import { type NatsHandle, startNats } from '../helpers/nats.ts';
import { canConnect, freePort } from '../helpers/ports.ts';
import { type ServiceProcess, startProcess } from '../helpers/proc.ts';
import { routingContract } from '../routing.contract.ts';

let nats: NatsHandle;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.close();
});

const ev = (frame: string): Routed => ({ kind: 'event', frame });
const ignore = () => undefined;

let n = 0;
/** Each pair gets its own region name, so pairs running side by side never share subjects. */
const region = () => `r${++n}`;

routingContract('nats', () => {
  const r = region();
  return [
    new NatsRouter({ servers: [nats.url], region: r, gatewayId: 'gw-a' }),
    new NatsRouter({ servers: [nats.url], region: r, gatewayId: 'gw-b' }),
  ];
});
routingContract('nats via createRouter', () => {
  const r = region();
  return [
    createRouter({ kind: 'nats', servers: [nats.url], region: r, gatewayId: 'gw-a' }),
    createRouter({ kind: 'nats', servers: [nats.url], region: r, gatewayId: 'gw-b' }),
  ];
});

describe('NatsRouter', () => {
  it("listens on chat.<region>.g.<gatewayId> and publishes on the addressed gateway's", () => {
    const r = new NatsRouter({ servers: [nats.url], region: 'eu-west', gatewayId: 'g' });
    assert.equal(r.subject, 'chat.eu-west.g.g');
    assert.equal(r.subjectFor('eu-west-w1-0a1b2c3d'), 'chat.eu-west.g.eu-west-w1-0a1b2c3d');
  });

  it('rejects a gateway id that is not one subject token', () => {
    assert.throws(
      () => new NatsRouter({ servers: [nats.url], region: 'eu-west', gatewayId: 'g.1' }),
      RangeError,
    );
  });

  it('sends control events on chat.<region>.control', () => {
    const r = new NatsRouter({ servers: [nats.url], region: 'eu-west', gatewayId: 'g' });
    assert.equal(r.controlSubject, 'chat.eu-west.control');
  });

  it('rejects a region that is not one subject token', () => {
    assert.throws(
      () => new NatsRouter({ servers: [nats.url], region: 'eu.west', gatewayId: 'g' }),
      RangeError,
    );
  });

  it('keeps regions apart', async () => {
    const a = new NatsRouter({ servers: [nats.url], region: region(), gatewayId: 'a' });
    const b = new NatsRouter({ servers: [nats.url], region: region(), gatewayId: 'b' });
    const got: Delivery[] = [];
    await a.start({ onDelivery: (d) => got.push(d), onControl: ignore, onGap: ignore });
    await b.start({ onDelivery: ignore, onControl: ignore, onGap: ignore });
    try {
      await b.publish('a', ['alice'], ev('other region'));
      await b.ping();
      await a.ping();
      assert.deepEqual(got, []);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('survives a server restart: reconnects, resubscribes and reports the gap', async () => {
    // startNats() picks its own port; a restart must reuse the port, so launch by hand here.
    const dir = await mkdtemp(join(tmpdir(), 'nats-restart-'));
    const port = await freePort();
    const launch = async (): Promise<ServiceProcess> => {
      const proc = startProcess('nats-server', ['-a', '127.0.0.1', '-p', String(port)], {
        cwd: dir,
        logFile: join(dir, 'nats.log'),
      });
      await eventually(
        async () => assert.ok(await canConnect(port), proc.exitReason() ?? 'not listening yet'),
        {
          timeoutMs: 10_000,
          intervalMs: 50,
        },
      );
      return proc;
    };
    let server = await launch();
    const opts = {
      servers: [`nats://127.0.0.1:${port}`],
      region: region(),
      reconnectWaitMs: 100,
      reconnectJitterMs: 50,
      pingTimeoutMs: 300,
    };
    const a = new NatsRouter({ ...opts, gatewayId: 'a' });
    const b = new NatsRouter({ ...opts, gatewayId: 'b' });
    const got: string[] = [];
    const gaps: RoutingGap[] = [];
    await a.start({
      onDelivery: (d) => got.push(d.routed.frame),
      onControl: ignore,
      onGap: (g) => gaps.push(g),
    });
    await b.start({ onDelivery: ignore, onControl: ignore, onGap: ignore });
    try {
      await b.publish('a', ['alice'], ev('before'));
      await eventually(() => assert.deepEqual(got, ['before']), { timeoutMs: 5000, intervalMs: 10 });
      const stoppedAt = Date.now();
      await server.stop();
      await assert.rejects(a.ping(), 'ping fails while the server is down');
      server = await launch();
      // Both reconnect on their own; a's subscription is re-sent, so new publishes arrive.
      let i = 0;
      await eventually(
        async () => {
          await a.ping();
          await b.ping();
          const payload = `after-${i++}`;
          await b.publish('a', ['alice'], ev(payload));
          await b.ping();
          await eventually(() => assert.ok(got.includes(payload)), { timeoutMs: 300, intervalMs: 10 });
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      // One gap, reported when the loss was noticed (after the stop began) and again at the
      // reconnect: what other gateways published in between is gone; the gateway resyncs.
      assert.equal(gaps.length, 2, JSON.stringify(gaps));
      const [begun, ended] = gaps as [RoutingGap, RoutingGap];
      assert.equal(begun.until, null);
      assert.equal(ended.since, begun.since);
      assert.ok(
        ended.until !== null && ended.since >= stoppedAt && ended.since <= ended.until,
        JSON.stringify(gaps),
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
