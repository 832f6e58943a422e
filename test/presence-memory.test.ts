import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPresence, MemoryPresence } from '../src/presence/index.ts';
import type { PresenceInfo } from '../src/presence/types.ts';
import { collectingLogger } from './helpers/log.ts';
import { presenceContract } from './presence.contract.ts';

presenceContract('memory', ({ ttlMs }) => new MemoryPresence({ ttlMs }));
presenceContract('memory via createPresence', ({ ttlMs }) => createPresence({ kind: 'memory', ttlMs }));

describe('MemoryPresence with a fake clock', () => {
  function setup() {
    let now = 1_000_000;
    const p = new MemoryPresence({ ttlMs: 1000, now: () => now });
    const events: PresenceInfo[] = [];
    p.subscribe((e) => events.push(e));
    return { p, events, advance: (ms: number) => (now += ms), now: () => now };
  }

  it('expires exactly at the TTL and sets lastSeen to the last heartbeat', async () => {
    const { p, events, advance } = setup();
    await p.markOnline('u1', { connectionId: 'c1', gatewayId: 'g1', device: 'web' });
    advance(500);
    await p.heartbeat('g1');
    const lastHeartbeat = 1_000_500;
    advance(999);
    assert.equal(p.sweep(), 0);
    assert.equal((await p.getPresence(['u1'])).get('u1')?.status, 'online');
    advance(1);
    // Offline for lookups before any sweep, with lastSeen at the last heartbeat.
    assert.deepEqual((await p.getPresence(['u1'])).get('u1'), {
      userId: 'u1',
      status: 'offline',
      lastSeen: lastHeartbeat,
      devices: 0,
      gateways: [],
    });
    assert.equal(p.sweep(), 1);
    assert.deepEqual(
      events.map((e) => [e.status, e.lastSeen]),
      [
        ['online', 1_000_000],
        ['offline', lastHeartbeat],
      ],
    );
    assert.equal(p.sweep(), 0);
    // A heartbeat after the sweep does not bring the connection back.
    await p.heartbeat('g1');
    assert.equal((await p.getPresence(['u1'])).get('u1')?.status, 'offline');
  });

  it('a late heartbeat before the sweep revives the connections silently', async () => {
    const { p, events, advance } = setup();
    await p.markOnline('u1', { connectionId: 'c1', gatewayId: 'g1', device: 'web' });
    advance(1500);
    assert.equal((await p.getPresence(['u1'])).get('u1')?.status, 'offline');
    await p.heartbeat('g1');
    assert.equal((await p.getPresence(['u1'])).get('u1')?.status, 'online');
    assert.equal(p.sweep(), 0);
    assert.deepEqual(
      events.map((e) => e.status),
      ['online'],
    );
  });

  it('a listener that throws does not stop the others or corrupt state', async () => {
    const { log, records: errors } = collectingLogger();
    const p = new MemoryPresence({ ttlMs: 1000, log });
    p.subscribe(() => {
      throw new Error('listener bug');
    });
    const events: PresenceInfo[] = [];
    p.subscribe((e) => events.push(e));
    await p.markOnline('u1', { connectionId: 'c1', gatewayId: 'g1', device: 'web' });
    assert.equal(events.length, 1);
    assert.equal((await p.getPresence(['u1'])).get('u1')?.status, 'online');
    assert.deepEqual(
      errors.map((e) => e.err?.message),
      ['listener bug'],
    );
  });
});
