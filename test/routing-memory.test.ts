import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRouter, MemoryBus, MemoryRouter } from '../src/routing/index.ts';
import type { Delivery, Routed } from '../src/routing/types.ts';
import { routingContract } from './routing.contract.ts';

routingContract('memory', () => {
  const bus = new MemoryBus();
  return [new MemoryRouter(bus, 'gw-a'), new MemoryRouter(bus, 'gw-b')];
});
routingContract('memory via createRouter', () => {
  const bus = new MemoryBus();
  return [
    createRouter({ kind: 'memory', bus, gatewayId: 'gw-a' }),
    createRouter({ kind: 'memory', bus, gatewayId: 'gw-b' }),
  ];
});

const ev = (frame: string): Routed => ({ kind: 'event', frame });
const ignore = () => undefined;

describe('MemoryBus', () => {
  it('keeps routers on different buses apart', async () => {
    const a = new MemoryRouter(new MemoryBus(), 'a');
    const b = new MemoryRouter(new MemoryBus(), 'b');
    const got: Delivery[] = [];
    await a.start({ onDelivery: (d) => got.push(d), onControl: ignore, onGap: ignore });
    await b.start({ onDelivery: ignore, onControl: ignore, onGap: ignore });
    await b.publish('a', ['alice'], ev('lost'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, []);
  });

  it('delivers only to the addressed router, and to none once it closed', async () => {
    const bus = new MemoryBus();
    const routers = ['r0', 'r1', 'r2'].map((id) => new MemoryRouter(bus, id));
    const got = routers.map(() => [] as string[]);
    await Promise.all(
      routers.map((r, i) =>
        r.start({ onDelivery: (d) => got[i]!.push(d.routed.frame), onControl: ignore, onGap: ignore }),
      ),
    );
    await routers[0]!.publish('r2', ['alice'], ev('p'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, [[], [], ['p']]);
    await routers[2]!.close();
    await routers[0]!.publish('r2', ['alice'], ev('q'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, [[], [], ['p']]);
  });

  it('refuses a second router for a gateway already on the bus', async () => {
    const bus = new MemoryBus();
    await new MemoryRouter(bus, 'same').start({ onDelivery: ignore, onControl: ignore, onGap: ignore });
    await assert.rejects(
      new MemoryRouter(bus, 'same').start({ onDelivery: ignore, onControl: ignore, onGap: ignore }),
      /already on this bus/,
    );
  });
});
