import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRouter, MemoryBus, MemoryRouter } from '../src/routing/index.ts';
import type { Delivery, Routed } from '../src/routing/types.ts';
import { routingContract } from './routing.contract.ts';

routingContract('memory', () => {
  const bus = new MemoryBus();
  return [new MemoryRouter(bus), new MemoryRouter(bus)];
});
routingContract('memory via createRouter', () => {
  const bus = new MemoryBus();
  return [createRouter({ kind: 'memory', bus }), createRouter({ kind: 'memory', bus })];
});

const ev = (frame: string): Routed => ({ kind: 'event', frame });
const ignore = () => undefined;

describe('MemoryBus', () => {
  it('keeps routers on different buses apart', async () => {
    const a = new MemoryRouter(new MemoryBus());
    const b = new MemoryRouter(new MemoryBus());
    const got: Delivery[] = [];
    await a.start({ onDelivery: (d) => got.push(d), onControl: ignore, onGap: ignore });
    await b.start({ onDelivery: ignore, onControl: ignore, onGap: ignore });
    a.addUser('alice');
    await b.publish(['alice'], ev('lost'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, []);
  });

  it('delivers to every other router on the bus that holds the user', async () => {
    const bus = new MemoryBus();
    const routers = [new MemoryRouter(bus), new MemoryRouter(bus), new MemoryRouter(bus)];
    const got = routers.map(() => [] as string[]);
    await Promise.all(
      routers.map((r, i) =>
        r.start({ onDelivery: (d) => got[i]!.push(d.routed.frame), onControl: ignore, onGap: ignore }),
      ),
    );
    for (const r of routers) r.addUser('alice');
    await routers[0]!.publish(['alice'], ev('p'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, [[], ['p'], ['p']]);
    await routers[1]!.close();
    await routers[0]!.publish(['alice'], ev('q'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, [[], ['p'], ['p', 'q']]);
  });
});
