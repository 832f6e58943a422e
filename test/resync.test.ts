/**
 * Server-side resync (src/gateway/resync.ts) on embedded gateways sharing a bus, a store and a
 * presence: a connected client gets a message live delivery dropped, without reconnecting,
 * when its gateway's router reports a gap, and when another gateway of the region is found dead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryPresence } from '../src/presence/memory.ts';
import { MemoryBus } from '../src/routing/memory.ts';
import type { Router, RouterHandlers } from '../src/routing/types.ts';
import type { StoredMessage } from '../src/storage/types.ts';
import { SnowflakeGenerator } from '../src/util/snowflake.ts';
import { type Frame, TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, type TestGateway, token } from './helpers/gateway.ts';

let seq = 0;
function user(name: string): string {
  return `${name}${process.pid}s${++seq}`;
}

function dm(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

const isMessage = (id: string) => (f: Frame) => f.op === 'message' && (f.message as { id: string }).id === id;

/**
 * A router that loses every delivery while `lose()` is in effect, as a NATS connection that is
 * down does, and reports the gap like `NatsRouter`: when the loss begins and when it ends.
 */
class LossyRouter implements Router {
  private handlers: RouterHandlers | undefined;
  private lostSince: number | null = null;

  constructor(private readonly inner: Router) {}
  get gatewayId(): string {
    return this.inner.gatewayId;
  }

  start(handlers: RouterHandlers): Promise<void> {
    this.handlers = handlers;
    return this.inner.start({
      onDelivery: (d) => {
        if (this.lostSince === null) handlers.onDelivery(d);
      },
      onControl: (e) => handlers.onControl(e),
      onGap: (g) => handlers.onGap(g),
    });
  }
  lose(): void {
    this.lostSince = Date.now();
    this.handlers?.onGap({ since: this.lostSince, until: null });
  }
  restore(): void {
    const since = this.lostSince;
    if (since === null) return;
    this.lostSince = null;
    this.handlers?.onGap({ since, until: Date.now() });
  }
  close = () => this.inner.close();
  ping = () => this.inner.ping();
  publish: Router['publish'] = (g, u, r) => this.inner.publish(g, u, r);
  publishControl: Router['publishControl'] = (e) => this.inner.publishControl(e);
}

describe('server-side resync of open connections', () => {
  const bus = new MemoryBus();
  // Short TTL: a gateway that stops heartbeating is found dead within ~1 s.
  const presence = new MemoryPresence({ ttlMs: 800, sweepIntervalMs: 50 });
  let lossy: LossyRouter | undefined;
  let a: TestGateway;
  let b: TestGateway;
  const clients: TestClient[] = [];

  const open = async (gw: TestGateway, userId: string) => {
    const c = await TestClient.connect(gw.url, await token(userId));
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced' && f.id === null, 30_000);
    return c;
  };

  before(async () => {
    await presence.start();
    a = await startTestGateway({
      bus,
      presence,
      workerId: 1,
      wrapRouter: (r) => {
        lossy = new LossyRouter(r);
        return lossy;
      },
    });
    b = await startTestGateway({ bus, presence, workerId: 2, dataDir: a.dataDir });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await b.stop();
    await a.stop();
    await presence.close();
  });

  it('replays what the router lost while its transport was away, once it is back', async () => {
    const alice = user('alice');
    const bob = user('bob');
    const onA = await open(a, bob);
    const onB = await open(b, alice);
    await onB.call('openDirect', { userId: bob });
    const conv = dm(alice, bob);
    const before = await onB.call('send', { conversationId: conv, body: 'before the gap' });
    await onA.waitFor(isMessage(before.messageId));

    lossy!.lose();
    const lost = await onB.call('send', { conversationId: conv, body: 'in the gap' });
    // b published it; a's transport dropped it: bob did not get it live (a round trip on bob's
    // socket lets anything a wrote before it arrive first).
    await onA.request('ping');
    assert.equal(onA.frames.some(isMessage(lost.messageId)), false, 'delivered despite the gap');

    lossy!.restore();
    const replayed = await onA.waitFor(isMessage(lost.messageId));
    assert.equal(replayed.replay, true);
    // The resync ends like a replay, with a synced of no request after the connect replay's.
    await eventually(() =>
      assert.equal(onA.frames.filter((f) => f.op === 'synced' && f.id === null).length, 2),
    );
    // Live delivery goes on after it.
    const after = await onB.call('send', { conversationId: conv, body: 'after the gap' });
    const live = await onA.waitFor(isMessage(after.messageId));
    assert.notEqual(live.replay, true);
    const metric = await a.gateway.metrics.resyncs.get();
    const ok = metric.values.find((v) => v.labels.reason === 'nats_gap' && v.labels.result === 'ok');
    assert.ok(ok && ok.value >= 1, JSON.stringify(metric.values));
  });

  it('replays what a gateway that died acked but never fanned out, once presence finds it dead', async () => {
    const alice = user('alice');
    const bob = user('bob');
    const onB = await open(b, bob);
    const onA = await open(a, alice);
    await onA.call('openDirect', { userId: bob });
    const conv = dm(alice, bob);
    // A third gateway held alice's other device, stored and acked her message, and died before
    // its fan-out: the message is in the store, no socket got it, and the gateway's heartbeats
    // stop.
    await presence.markOnline(alice, { connectionId: `${alice}-dead`, gatewayId: 'gw-dead', device: 'web' });
    const ids = new SnowflakeGenerator(1, 9);
    const stranded: StoredMessage = {
      conversationId: conv,
      messageId: ids.next(),
      senderId: alice,
      clientMsgId: null,
      body: 'acked, never fanned out',
      createdAt: Date.now(),
    };
    await b.gateway.deps.storage.putReplica(stranded);
    const id = stranded.messageId.toString();
    assert.equal(onB.frames.some(isMessage(id)), false);

    // Once the sweep finds gw-dead expired, every other gateway resyncs its connections.
    const replayed = await onB.waitFor(isMessage(id), 10_000);
    assert.equal(replayed.replay, true);
    const metric = await b.gateway.metrics.resyncs.get();
    const ok = metric.values.find((v) => v.labels.reason === 'gateway_lost' && v.labels.result === 'ok');
    assert.ok(ok && ok.value >= 1, JSON.stringify(metric.values));
  });
});
