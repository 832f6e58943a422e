/** The JetStream outbox → inbox leg on a real three-region NATS supercluster. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CrossRegionLink } from '../../src/replication/link.ts';
import { eventually } from '../helpers/eventually.ts';
import { type NatsSupercluster, startNatsSupercluster } from '../helpers/nats.ts';

const REGIONS = ['us-east', 'eu-west', 'ap-south'];

describe('cross-region link (JetStream outbox/inbox sourcing)', () => {
  let sc: NatsSupercluster;
  const links = new Map<string, CrossRegionLink>();
  const received = new Map<
    string,
    { origin: string; eventId: string; item: string | null; body: string }[]
  >();

  const startLink = async (region: string) => {
    const link = new CrossRegionLink({
      servers: [sc.urls[region]!],
      region,
      peers: REGIONS.filter((r) => r !== region),
      outboxMaxAgeMs: 3600_000,
      duplicateWindowMs: 120_000,
    });
    await link.start();
    const list = received.get(region) ?? [];
    received.set(region, list);
    await link.consume(async (data, meta) => {
      list.push({ ...meta, body: new TextDecoder().decode(data) });
    });
    links.set(region, link);
  };

  before(async () => {
    sc = await startNatsSupercluster(REGIONS);
    for (const r of REGIONS) await startLink(r);
  });
  after(async () => {
    for (const l of links.values()) await l.close();
    await sc.close();
  });

  it('replicates an event to every other region, once, even when republished', async () => {
    const enc = new TextEncoder();
    await links.get('us-east')!.publish(enc.encode('hello'), 'm1');
    await links.get('us-east')!.publish(enc.encode('hello'), 'm1');
    for (const r of ['eu-west', 'ap-south']) {
      await eventually(() => assert.equal(received.get(r)!.filter((e) => e.body === 'hello').length, 1), {
        timeoutMs: 15_000,
        intervalMs: 50,
      });
      assert.equal(received.get(r)![0]!.origin, 'us-east');
    }
    assert.equal(received.get('us-east')!.length, 0, 'no echo to the origin');
  });

  it('keeps sourcing from a region that republishes an event another region published first', async () => {
    // A resend that reaches another region than its first attempt, after the original was
    // replicated there, is answered as a duplicate and published again from there: the third
    // region's inbox then sources the same event from two outboxes. nats-server 2.9 answers a
    // sourced message its inbox rejects as a duplicate by restarting that source after the last
    // message it holds from it, i.e. at the duplicate again: with one Nats-Msg-Id for both copies
    // the second source stalled for the whole duplicate window (the slow-consumer fault run).
    // It only loops when the inbox already holds something from that source, as it always does
    // in a running deployment: hence the first publish from eu-west.
    const enc = new TextEncoder();
    const bodies = (r: string) => received.get(r)!.map((e) => e.body);
    const arrives = (body: string) =>
      eventually(() => assert.ok(bodies('ap-south').includes(body), `ap-south has no ${body}`), {
        timeoutMs: 15_000,
        intervalMs: 50,
      });
    await links.get('eu-west')!.publish(enc.encode('eu-west first'), 'm:eu-west-first');
    await arrives('eu-west first');
    await links.get('us-east')!.publish(enc.encode('twice'), 'm:twice');
    await arrives('twice');
    await links.get('eu-west')!.publish(enc.encode('twice'), 'm:twice');
    await links.get('eu-west')!.publish(enc.encode('after twice'), 'm:after-twice');
    await arrives('after twice');
    // Both copies carry the event's own id, which the applier remembers to fan out once.
    const copies = received.get('ap-south')!.filter((e) => e.body === 'twice');
    assert.deepEqual(
      copies.map((e) => [e.origin, e.eventId]),
      [
        ['us-east', 'm:twice'],
        ['eu-west', 'm:twice'],
      ],
    );
  });

  it('erases an item’s events from the outbox and each inbox, and nothing else', async () => {
    const enc = new TextEncoder();
    const us = links.get('us-east')!;
    // Thirty items over many buckets, and one event without an item.
    for (let i = 0; i < 30; i++)
      await us.publish(enc.encode(`item body ${i}`), `e:${i}`, 'g:erase', `m${9000 + i}`);
    await us.publish(enc.encode('no item'), 'e:none', 'g:erase');
    for (const r of ['eu-west', 'ap-south'])
      await eventually(
        () =>
          assert.ok(
            received.get(r)!.some((e) => e.body === 'no item'),
            `${r}: ${JSON.stringify(received.get(r)!.map((e) => e.body))}`,
          ),
        { timeoutMs: 30_000 },
      );
    const carried = received.get('eu-west')!.find((e) => e.body === 'item body 3');
    assert.equal(carried?.item, 'm9003', 'the inbox event names its item');
    const since = Date.now() - 60_000;
    // One item: its event in us-east's outbox (once per peer) and in each peer's inbox.
    assert.equal(await us.erase([{ item: 'm9003', since }]), 2);
    assert.equal(await links.get('eu-west')!.erase([{ item: 'm9003', since }]), 1);
    assert.equal(await links.get('ap-south')!.erase([{ item: 'm9003', since }]), 1);
    assert.equal(await us.erase([{ item: 'm9003', since }]), 0, 'idempotent');
    // Many items at once (more buckets than are walked one by one): the whole streams are read.
    const many = Array.from({ length: 20 }, (_, i) => ({ item: `m${9010 + i}`, since }));
    assert.equal(await us.erase(many), 40);
    assert.equal(await links.get('eu-west')!.erase(many), 20);
    // Nothing published before `since` is looked at.
    assert.equal(await links.get('ap-south')!.erase([{ item: 'm9004', since: Date.now() + 60_000 }]), 0);
    assert.equal(await links.get('ap-south')!.erase([{ item: 'm9004', since }]), 1);
  });

  it('keeps publishing while a region is down and catches it up, in order, when it returns', async () => {
    await links.get('eu-west')!.close();
    links.delete('eu-west');
    await sc.stopRegion('eu-west');
    const enc = new TextEncoder();
    for (let i = 0; i < 50; i++) await links.get('us-east')!.publish(enc.encode(`out${i}`), `o${i}`);
    await eventually(
      () => assert.equal(received.get('ap-south')!.filter((e) => e.body.startsWith('out')).length, 50),
      {
        timeoutMs: 15_000,
        intervalMs: 50,
      },
    );
    await sc.startRegion('eu-west');
    await startLink('eu-west');
    await eventually(
      () => {
        const got = received.get('eu-west')!.filter((e) => e.body.startsWith('out'));
        assert.deepEqual(
          got.map((e) => e.body),
          Array.from({ length: 50 }, (_, i) => `out${i}`),
        );
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });
});
