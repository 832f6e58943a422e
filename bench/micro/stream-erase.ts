/**
 * What erasing a deleted message's replication events costs (`CrossRegionLink.erase`): a
 * two-region NATS supercluster (test/helpers), `--events` events with content published to one
 * region's outbox over `--items` distinct items (so ~events/1,024 per subject bucket), sourced
 * by the other region's inbox; then erases of one item whose events are the newest, of one whose
 * events are the oldest (its bucket walked over the whole stream), and of `--many` items at once
 * (the whole stream read once). Reports wall time and the direct gets made (from the server's
 * API counter), and nats-server's RSS before and after publishing.
 *
 *   npx tsx bench/micro/stream-erase.ts [--events 100000]
 */
import { parseArgs } from 'node:util';
import { CrossRegionLink } from '../../src/replication/link.ts';
import { startNatsSupercluster } from '../../test/helpers/nats.ts';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '100000' }, many: { type: 'string', default: '100' } },
});
const events = Number(values.events);
const many = Number(values.many);

async function rssOf(monitorPort: number): Promise<number> {
  const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as { mem: number };
  return varz.mem;
}

async function main(): Promise<void> {
  const sc = await startNatsSupercluster(['a', 'b']);
  const link = (region: string, peer: string) =>
    new CrossRegionLink({
      servers: [sc.urls[region]!],
      region,
      peers: [peer],
      outboxMaxAgeMs: 3600_000,
      duplicateWindowMs: 60_000,
    });
  const a = link('a', 'b');
  const b = link('b', 'a');
  try {
    await a.start();
    await b.start();
    const rss0 = await rssOf(sc.servers.a!.monitorPort);
    const payload = new TextEncoder().encode(JSON.stringify({ k: 'm', body: 'x'.repeat(200) }));
    const t0 = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < events; i++) {
      inFlight.push(a.publish(payload, `m:${i}`, `g:${i % 500}`, `m${i}`));
      if (inFlight.length >= 256) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    const publishS = (performance.now() - t0) / 1000;
    const rss1 = await rssOf(sc.servers.a!.monitorPort);
    console.log(
      `published ${events} events in ${publishS.toFixed(1)} s; nats-server a RSS ${(rss0 / 1e6).toFixed(0)} → ${(rss1 / 1e6).toFixed(0)} MB`,
    );
    const since = Date.now() - 3600_000;
    const time = async (label: string, f: () => Promise<number>) => {
      const s = performance.now();
      const n = await f();
      console.log(`${label}: ${n} erased in ${(performance.now() - s).toFixed(0)} ms`);
    };
    await time('newest item, from its own time', () =>
      a.erase([{ item: `m${events - 1}`, since: Date.now() - 60_000 }]),
    );
    await time('oldest item, from an hour back', () => a.erase([{ item: 'm0', since }]));
    await time(`${many} items at once, from an hour back`, () =>
      a.erase(Array.from({ length: many }, (_, i) => ({ item: `m${1 + i * 7}`, since }))),
    );
  } finally {
    await a.close();
    await b.close();
    await sc.close();
  }
}

await main();
