/** `CrossRegionLink.backlog()` on a real three-region NATS supercluster: lag, pending, outages. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'nats';
import { Registry } from 'prom-client';
import { registerReplicationMetrics } from '../../src/gateway/replication-metrics.ts';
import { CrossRegionLink, inboxStream, outboxStream } from '../../src/replication/link.ts';
import { unsourced } from '../../src/replication/unsourced.ts';
import { eventually } from '../helpers/eventually.ts';
import { type NatsSupercluster, startNatsSupercluster } from '../helpers/nats.ts';

const REGIONS = ['us-east', 'eu-west', 'ap-south'];

describe('cross-region backlog (JetStream stream and consumer info)', () => {
  let sc: NatsSupercluster;
  const links = new Map<string, CrossRegionLink>();
  const applied = new Map<string, number>();

  const startLink = async (region: string, consume: boolean) => {
    const link = new CrossRegionLink({
      servers: [sc.urls[region]!],
      region,
      peers: REGIONS.filter((r) => r !== region),
      outboxMaxAgeMs: 3600_000,
      duplicateWindowMs: 120_000,
    });
    await link.start();
    if (consume) await consumeAll(region, link);
    links.set(region, link);
    return link;
  };
  const consumeAll = (region: string, link: CrossRegionLink) =>
    link.consume(async () => {
      applied.set(region, (applied.get(region) ?? 0) + 1);
    });
  const peer = async (from: string, to: string) => {
    const b = await links.get(from)!.backlog(1500);
    const p = b.peers.find((x) => x.region === to);
    assert.ok(p, `${from} reports ${to}`);
    return { backlog: b, peer: p };
  };

  before(async () => {
    sc = await startNatsSupercluster(REGIONS);
    await startLink('us-east', true);
    await startLink('eu-west', true);
    // ap-south does not apply anything yet: its inbox piles up.
    await startLink('ap-south', false);
  });
  after(async () => {
    for (const l of links.values()) await l.close();
    await sc.close();
  });

  it('counts events sourced into an inbox but not applied yet, and drains to zero', async () => {
    const enc = new TextEncoder();
    for (let i = 0; i < 20; i++) await links.get('us-east')!.publish(enc.encode(`e${i}`), `b${i}`);
    await eventually(
      async () => {
        const b = await links.get('ap-south')!.backlog();
        assert.equal(b.region, 'ap-south');
        assert.equal(b.inboxPending, 20);
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    await consumeAll('ap-south', links.get('ap-south')!);
    await eventually(
      async () => {
        assert.equal((await links.get('ap-south')!.backlog()).inboxPending, 0);
        assert.equal(applied.get('ap-south'), 20);
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    // Every peer answers, nothing is lagging, and the sourcing has been heard from recently.
    await eventually(
      async () => {
        for (const to of ['eu-west', 'ap-south']) {
          const { peer: p } = await peer('us-east', to);
          assert.equal(p.reachable, true);
          assert.equal(p.outbound, 0);
          assert.equal(p.inbound, 0);
          assert.equal(p.error, null);
          assert.ok(p.inboundIdleMs !== null && p.inboundIdleMs < 5000, `idle ${p.inboundIdleMs} ms`);
        }
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
  });

  it('reports a region that is down as unreachable, and silent for longer and longer', async () => {
    await links.get('eu-west')!.close();
    links.delete('eu-west');
    await sc.stopRegion('eu-west');
    const first = await eventually(
      async () => {
        const { peer: p } = await peer('us-east', 'eu-west');
        assert.equal(p.reachable, false);
        assert.equal(p.outbound, null);
        assert.match(p.error ?? '', /eu-west/);
        return p;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    await eventually(
      async () => {
        const { peer: p } = await peer('us-east', 'eu-west');
        assert.ok((p.inboundIdleMs ?? 0) > (first.inboundIdleMs ?? 0) + 1000, `idle ${p.inboundIdleMs} ms`);
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    // The other peer is unaffected.
    assert.equal((await peer('us-east', 'ap-south')).peer.reachable, true);
  });

  it('shows on /metrics as chat_replication_*, a figure that could not be read left out', async () => {
    // eu-west is still down (previous test).
    const registry = new Registry();
    registerReplicationMetrics(registry, (ms) => links.get('us-east')!.backlog(ms));
    const text = await registry.metrics();
    assert.match(text, /^chat_replication_peer_reachable\{peer="eu-west"\} 0$/m);
    assert.match(text, /^chat_replication_peer_reachable\{peer="ap-south"\} 1$/m);
    assert.match(text, /^chat_replication_outbound_backlog\{peer="ap-south"\} 0$/m);
    assert.doesNotMatch(text, /^chat_replication_outbound_backlog\{peer="eu-west"\}/m);
    assert.match(text, /^chat_replication_inbound_idle_seconds\{peer="eu-west"\} \d/m);
    assert.match(text, /^chat_replication_inbox_pending\{inbox="us-east"\} 0$/m);
  });

  it('is reachable again with no lag once the region is back', async () => {
    const enc = new TextEncoder();
    for (let i = 0; i < 5; i++) await links.get('us-east')!.publish(enc.encode(`d${i}`), `down${i}`);
    await sc.startRegion('eu-west');
    await startLink('eu-west', true);
    await eventually(
      async () => {
        const { peer: p } = await peer('us-east', 'eu-west');
        assert.equal(p.reachable, true);
        assert.equal(p.outbound, 0);
        assert.equal((await links.get('eu-west')!.backlog()).inboxPending, 0);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });

  it('counts what an inbox has not sourced from the streams themselves, not from the source lag', async () => {
    // An outbox and an inbox shaped like the link's: the figure must follow what the inbox holds
    // (nats-server 2.9's source `lag` can stay stale).
    const nc = await connect({ servers: sc.urls['us-east']! });
    try {
      const jsm = await nc.jetstreamManager();
      const js = nc.jetstream();
      await jsm.streams.add({ name: outboxStream('tx'), subjects: ['xr.tx.to.>'] });
      for (let i = 0; i < 3; i++) await js.publish('xr.tx.to.ty._', new Uint8Array([i]));
      // Traffic for another destination is not counted.
      await js.publish('xr.tx.to.tz._', new Uint8Array([9]));
      await jsm.streams.add({
        name: inboxStream('ty'),
        sources: [{ name: outboxStream('tx'), filter_subject: 'xr.tx.to.ty.>' }],
      });
      await eventually(async () => assert.equal(await unsourced(jsm, 'tx', 'ty'), 0), {
        timeoutMs: 10_000,
        intervalMs: 200,
      });
      // The inbox losing its last copy is behind by exactly that one.
      const last = await jsm.streams.getMessage(inboxStream('ty'), { last_by_subj: 'xr.tx.to.ty.>' });
      await jsm.streams.deleteMessage(inboxStream('ty'), last.seq);
      assert.equal(await unsourced(jsm, 'tx', 'ty'), 1);
      // Sourcing more catches up again.
      await js.publish('xr.tx.to.ty._', new Uint8Array([3]));
      await eventually(async () => assert.equal(await unsourced(jsm, 'tx', 'ty'), 0), {
        timeoutMs: 10_000,
        intervalMs: 200,
      });
    } finally {
      await nc.close();
    }
  });
});
