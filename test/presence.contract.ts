import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type {
  GatewayLost,
  Presence,
  PresenceInfo,
  PresenceStatus,
  Whereabouts,
} from '../src/presence/types.ts';
import { eventually } from './helpers/eventually.ts';

export interface PresenceFactoryOptions {
  /** Connection TTL; the implementation sweeps at a fraction of it. */
  ttlMs: number;
}

/** Builds a fresh, not yet started presence instance, isolated from every other one. */
export type PresenceFactory = (opts: PresenceFactoryOptions) => Presence | Promise<Presence>;

/** Long enough that nothing expires during a test that does not heartbeat. */
const LONG_TTL_MS = 60_000;
/** Short TTL for expiry tests. */
const SHORT_TTL_MS = 1500;

let seq = 0;
/** A user id no other test (or earlier run against the same server) uses. */
function uid(label: string): string {
  seq++;
  return `${label}-${seq}-${randomBytes(3).toString('hex')}`;
}

function conn(connectionId: string, gatewayId: string, device = 'web') {
  return { connectionId, gatewayId, device };
}

/**
 * The behaviour every `Presence` implementation must have. Call at top level of a test file:
 * `presenceContract('memory', (o) => new MemoryPresence(o))`.
 */
export function presenceContract(name: string, make: PresenceFactory): void {
  describe(`presence contract: ${name}`, () => {
    const open: Presence[] = [];
    after(async () => {
      await Promise.all(open.map((p) => p.close()));
    });

    async function fresh(ttlMs = LONG_TTL_MS): Promise<Presence> {
      const p = await make({ ttlMs });
      await p.start();
      open.push(p);
      return p;
    }

    async function one(p: Presence, userId: string): Promise<PresenceInfo> {
      const info = (await p.getPresence([userId])).get(userId);
      assert.ok(info, `no entry for ${userId}`);
      return info;
    }

    /** Records events for the given users; `statuses(u)` lists what `u` went through. */
    function record(p: Presence) {
      const events: PresenceInfo[] = [];
      const unsubscribe = p.subscribe((e) => events.push(e));
      return {
        events,
        unsubscribe,
        statuses: (userId: string): PresenceStatus[] =>
          events.filter((e) => e.userId === userId).map((e) => e.status),
      };
    }

    it('answers ping', async () => {
      const p = await fresh();
      await p.ping();
    });

    it('reports unknown users offline, never seen', async () => {
      const p = await fresh();
      const u = uid('ghost');
      assert.deepEqual(await one(p, u), {
        userId: u,
        status: 'offline',
        lastSeen: null,
        devices: 0,
        gateways: [],
      });
      assert.deepEqual(await p.onlineUsers([u]), new Set());
    });

    it('aggregates several devices on several gateways', async () => {
      const p = await fresh();
      const u = uid('multi');
      const t0 = Date.now();
      await p.markOnline(u, conn(`${u}-c1`, 'gw-a', 'ios'));
      let info = await one(p, u);
      assert.equal(info.status, 'online');
      assert.equal(info.devices, 1);
      assert.deepEqual(info.gateways, ['gw-a']);
      assert.ok(info.lastSeen !== null && info.lastSeen >= t0 - 5, 'online user is seen now');

      await p.markOnline(u, conn(`${u}-c2`, 'gw-b', 'web'));
      await p.markOnline(u, conn(`${u}-c3`, 'gw-a', 'android'));
      info = await one(p, u);
      assert.equal(info.status, 'online');
      assert.equal(info.devices, 3);
      assert.deepEqual(info.gateways, ['gw-a', 'gw-b']);

      // Registering the same connection again does not count it twice.
      await p.markOnline(u, conn(`${u}-c2`, 'gw-b', 'web'));
      assert.equal((await one(p, u)).devices, 3);

      await p.markOffline(u, `${u}-c1`);
      await p.markOffline(u, `${u}-c3`);
      info = await one(p, u);
      assert.equal(info.status, 'online');
      assert.equal(info.devices, 1);
      assert.deepEqual(info.gateways, ['gw-b']);
    });

    it('is away only when every live connection is away', async () => {
      const p = await fresh();
      const u = uid('away');
      await p.markOnline(u, conn(`${u}-c1`, 'gw-a'));
      await p.markOnline(u, conn(`${u}-c2`, 'gw-a'));
      await p.setAway(u, `${u}-c1`, true);
      assert.equal((await one(p, u)).status, 'online');
      await p.setAway(u, `${u}-c2`, true);
      const info = await one(p, u);
      assert.equal(info.status, 'away');
      assert.equal(info.devices, 2);
      assert.deepEqual(await p.onlineUsers([u]), new Set([u]), 'away users count as online users');
      await p.setAway(u, `${u}-c1`, false);
      assert.equal((await one(p, u)).status, 'online');
      // The last non-away device leaving makes the user away.
      await p.markOffline(u, `${u}-c1`);
      assert.equal((await one(p, u)).status, 'away');
    });

    it('goes offline with lastSeen set when the last device leaves', async () => {
      const p = await fresh();
      const u = uid('leave');
      await p.markOnline(u, conn(`${u}-c1`, 'gw-a'));
      await p.markOnline(u, conn(`${u}-c2`, 'gw-b'));
      await p.markOffline(u, `${u}-c1`);
      assert.equal((await one(p, u)).status, 'online');
      const before = Date.now();
      await p.markOffline(u, `${u}-c2`);
      const afterMs = Date.now();
      const info = await one(p, u);
      assert.equal(info.status, 'offline');
      assert.equal(info.devices, 0);
      assert.deepEqual(info.gateways, []);
      assert.ok(info.lastSeen !== null, 'lastSeen set');
      // A few ms of slack: a server clock is read separately from ours.
      assert.ok(info.lastSeen >= before - 50 && info.lastSeen <= afterMs + 50, `lastSeen ${info.lastSeen}`);
      // Still known later.
      await new Promise((r) => setTimeout(r, 20));
      assert.equal((await one(p, u)).lastSeen, info.lastSeen);
    });

    it('ignores unknown connections', async () => {
      const p = await fresh();
      const u = uid('unknown');
      await p.markOffline(u, 'no-such-conn');
      await p.setAway(u, 'no-such-conn', true);
      assert.deepEqual(await one(p, u), {
        userId: u,
        status: 'offline',
        lastSeen: null,
        devices: 0,
        gateways: [],
      });
    });

    it('looks up many users at once', async () => {
      const p = await fresh();
      const users = Array.from({ length: 1200 }, () => uid('batch'));
      const online = users.filter((_, i) => i % 3 === 0);
      const away = users.filter((_, i) => i % 3 === 1);
      await Promise.all([
        ...online.map((u) => p.markOnline(u, conn(`${u}-c`, i2gw(u)))),
        ...away.map(async (u) => {
          await p.markOnline(u, conn(`${u}-c`, i2gw(u)));
          await p.setAway(u, `${u}-c`, true);
        }),
      ]);
      const query = [...users, users[0]!, uid('ghost')];
      const map = await p.getPresence(query);
      assert.equal(map.size, users.length + 1);
      users.forEach((u, i) => {
        const expected: PresenceStatus = i % 3 === 0 ? 'online' : i % 3 === 1 ? 'away' : 'offline';
        assert.equal(map.get(u)?.status, expected, u);
      });
      const live = await p.onlineUsers(query);
      assert.deepEqual(live, new Set([...online, ...away]));
      assert.deepEqual(await p.getPresence([]), new Map());
      assert.deepEqual(await p.onlineUsers([]), new Set());
    });

    it('announces status changes, and only changes, to subscribers', async () => {
      const p = await fresh();
      const rec = record(p);
      const u = uid('events');
      await p.markOnline(u, conn(`${u}-c1`, 'gw-a'));
      await p.markOnline(u, conn(`${u}-c2`, 'gw-b')); // still online: no event
      await p.setAway(u, `${u}-c1`, true); // c2 is active: no event
      await p.setAway(u, `${u}-c2`, true); // away
      await p.markOffline(u, `${u}-c1`); // still away: no event
      await p.setAway(u, `${u}-c2`, false); // online
      await p.markOffline(u, `${u}-c2`); // offline
      await eventually(() => assert.deepEqual(rec.statuses(u), ['online', 'away', 'online', 'offline']), {
        timeoutMs: 3000,
        intervalMs: 20,
      });
      const mine = rec.events.filter((e) => e.userId === u);
      assert.equal(mine[0]?.devices, 1);
      assert.deepEqual(mine[0]?.gateways, ['gw-a']);
      assert.equal(mine[1]?.devices, 2);
      assert.deepEqual(mine[1]?.gateways, ['gw-a', 'gw-b']);
      const offline = mine[3]!;
      assert.equal(offline.devices, 0);
      assert.deepEqual(offline.gateways, []);
      assert.ok(offline.lastSeen !== null);

      // Unsubscribed listeners hear nothing more.
      rec.unsubscribe();
      const rec2 = record(p);
      await p.markOnline(u, conn(`${u}-c3`, 'gw-a'));
      await eventually(() => assert.deepEqual(rec2.statuses(u), ['online']), {
        timeoutMs: 3000,
        intervalMs: 20,
      });
      assert.deepEqual(rec.statuses(u), ['online', 'away', 'online', 'offline']);
    });

    it('keeps connections alive while their gateway heartbeats', async () => {
      const p = await fresh(SHORT_TTL_MS);
      const u = uid('kept');
      await p.markOnline(u, conn(`${u}-c`, 'gw-live'));
      const timer = setInterval(() => void p.heartbeat('gw-live'), SHORT_TTL_MS / 5);
      try {
        await new Promise((r) => setTimeout(r, SHORT_TTL_MS * 2));
        assert.equal((await one(p, u)).status, 'online');
      } finally {
        clearInterval(timer);
      }
    });

    it("expires a silent gateway's connections after the TTL and announces them offline", async () => {
      const p = await fresh(SHORT_TTL_MS);
      const rec = record(p);
      const lonely = uid('lonely'); // only on the crashed gateway
      const both = uid('both'); // on the crashed gateway and a live one
      await p.markOnline(lonely, conn(`${lonely}-c`, 'gw-crash'));
      await p.markOnline(both, conn(`${both}-c1`, 'gw-crash', 'ios'));
      await p.markOnline(both, conn(`${both}-c2`, 'gw-live', 'web'));
      const crashedAt = Date.now();
      const timer = setInterval(() => void p.heartbeat('gw-live'), SHORT_TTL_MS / 5);
      try {
        // Still online just before the TTL runs out.
        assert.equal((await one(p, lonely)).status, 'online');
        const info = await eventually(
          async () => {
            const got = await one(p, lonely);
            assert.equal(got.status, 'offline');
            return got;
          },
          { timeoutMs: SHORT_TTL_MS * 3, intervalMs: 50 },
        );
        assert.ok(Date.now() - crashedAt >= SHORT_TTL_MS - 100, 'not expired before the TTL');
        assert.ok(info.lastSeen !== null && info.lastSeen >= crashedAt - 100, `lastSeen ${info.lastSeen}`);
        assert.equal(info.devices, 0);

        const bothInfo = await one(p, both);
        assert.equal(bothInfo.status, 'online');
        assert.equal(bothInfo.devices, 1);
        assert.deepEqual(bothInfo.gateways, ['gw-live']);
        assert.deepEqual(await p.onlineUsers([lonely, both]), new Set([both]));

        // The sweep announces it, once.
        await eventually(() => assert.deepEqual(rec.statuses(lonely), ['online', 'offline']), {
          timeoutMs: SHORT_TTL_MS * 3,
          intervalMs: 50,
        });
        assert.deepEqual(rec.statuses(both), ['online']);
        const offline = rec.events.find((e) => e.userId === lonely && e.status === 'offline');
        assert.ok(offline?.lastSeen !== null && offline?.lastSeen !== undefined);
        // Ensure nothing else shows up in the next sweeps.
        await new Promise((r) => setTimeout(r, SHORT_TTL_MS / 2));
        assert.deepEqual(rec.statuses(lonely), ['online', 'offline']);
        assert.deepEqual(rec.statuses(both), ['online']);
      } finally {
        clearInterval(timer);
      }
    });

    it('announces a gateway that expired holding connections, once; not one that closed them', async () => {
      const p = await fresh(SHORT_TTL_MS);
      const lost: GatewayLost[] = [];
      p.subscribeGatewayLost((e) => lost.push(e));
      const stranded = uid('stranded');
      const left = uid('left');
      const before = Date.now();
      await p.markOnline(stranded, conn(`${stranded}-c`, 'gw-crashed'));
      await p.markOnline(left, conn(`${left}-c`, 'gw-stopped'));
      // A graceful stop closes its connections first: nothing it acked is left unfanned.
      await p.markOffline(left, `${left}-c`);
      const after = Date.now();
      await eventually(
        () =>
          assert.deepEqual(
            lost.map((e) => e.gatewayId),
            ['gw-crashed'],
          ),
        {
          timeoutMs: SHORT_TTL_MS * 3,
          intervalMs: 50,
        },
      );
      // Its last sign of life: the heartbeat that registering the connection counts as.
      const at = lost[0]!.lastSeenAt;
      assert.ok(at >= before - 100 && at <= after + 100, `lastSeenAt ${at} not in [${before}, ${after}]`);
      // Later sweeps do not announce it again.
      await new Promise((r) => setTimeout(r, SHORT_TTL_MS / 2));
      assert.equal(lost.length, 1);
    });

    /** `Whereabouts` as plain sorted data, for comparisons. */
    const plain = (w: Whereabouts) => ({
      gateways: [...w.gateways].sort(([a], [b]) => a.localeCompare(b)),
      elsewhere: [...w.elsewhere].sort(),
    });

    it('locates users by gateway, leaving out the asking gateway', async () => {
      const p = await fresh();
      const [one1, both, away, never, gone] = [
        uid('one'),
        uid('both'),
        uid('away'),
        uid('never'),
        uid('gone'),
      ];
      await p.markOnline(one1, conn(`${one1}-1`, 'gw-a'));
      await p.markOnline(one1, conn(`${one1}-2`, 'gw-a'));
      await p.markOnline(both, conn(`${both}-1`, 'gw-a'));
      await p.markOnline(both, conn(`${both}-2`, 'gw-b'));
      await p.markOnline(away, conn(`${away}-1`, 'gw-b'));
      await p.setAway(away, `${away}-1`, true);
      await p.markOnline(gone, conn(`${gone}-1`, 'gw-b'));
      await p.markOffline(gone, `${gone}-1`);
      const asked = [one1, both, away, never, gone];
      assert.deepEqual(plain(await p.locate(asked, 'gw-a')), {
        gateways: [['gw-b', [both, away]]],
        elsewhere: [both, away].sort(),
      });
      assert.deepEqual(plain(await p.locate(asked, 'gw-other')), {
        gateways: [
          ['gw-a', [one1, both]],
          ['gw-b', [both, away]],
        ],
        elsewhere: [one1, both, away].sort(),
      });
      // Users in the order asked, each once.
      assert.deepEqual((await p.locate([away, both, away], 'gw-a')).gateways.get('gw-b'), [away, both]);
      assert.deepEqual(plain(await p.locate([], 'gw-a')), { gateways: [], elsewhere: [] });
      assert.deepEqual(plain(await p.locate([never], 'gw-a')), { gateways: [], elsewhere: [] });
    });

    it('answers concurrent lookups each with its own users', async () => {
      const p = await fresh();
      const users = Array.from({ length: 30 }, (_, i) => uid(`c${i}`));
      for (const [i, u] of users.entries()) await p.markOnline(u, conn(`${u}-c`, `gw-${i % 3}`));
      const asks = [users.slice(0, 10), users.slice(5, 25), users.slice(20), [users[0]!]];
      const answers = await Promise.all(asks.map((a) => p.locate(a, 'gw-0')));
      for (const [k, ask] of asks.entries()) {
        const elsewhere = ask.filter((u) => users.indexOf(u) % 3 !== 0);
        const expected = ['gw-1', 'gw-2']
          .map((g): [string, string[]] => [g, ask.filter((u) => `gw-${users.indexOf(u) % 3}` === g)])
          .filter(([, us]) => us.length > 0);
        assert.deepEqual(plain(answers[k]!), { gateways: expected, elsewhere: elsewhere.sort() }, `ask ${k}`);
      }
    });

    it('locates no one on a gateway whose liveness expired', async () => {
      const p = await fresh(SHORT_TTL_MS);
      const [stranded, live] = [uid('stranded'), uid('live')];
      await p.markOnline(stranded, conn(`${stranded}-c`, 'gw-dead'));
      await p.markOnline(live, conn(`${live}-c`, 'gw-live'));
      const timer = setInterval(() => void p.heartbeat('gw-live'), SHORT_TTL_MS / 5);
      try {
        assert.deepEqual(plain(await p.locate([stranded, live], 'me')).elsewhere, [stranded, live].sort());
        await eventually(
          async () =>
            assert.deepEqual(plain(await p.locate([stranded, live], 'me')), {
              gateways: [['gw-live', [live]]],
              elsewhere: [live],
            }),
          { timeoutMs: SHORT_TTL_MS * 3, intervalMs: 50 },
        );
      } finally {
        clearInterval(timer);
      }
    });

    it('delivers each change to every subscriber', async () => {
      const p = await fresh();
      const a = record(p);
      const b = record(p);
      const u = uid('fanout');
      await p.markOnline(u, conn(`${u}-c`, 'gw-a'));
      await eventually(
        () => {
          assert.deepEqual(a.statuses(u), ['online']);
          assert.deepEqual(b.statuses(u), ['online']);
        },
        { timeoutMs: 3000, intervalMs: 20 },
      );
    });
  });
}

/** Spreads users over two gateways. */
function i2gw(userId: string): string {
  return userId.charCodeAt(userId.length - 1) % 2 === 0 ? 'gw-a' : 'gw-b';
}
