import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { ControlEvent, Delivery, Routed, Router, RoutingGap } from '../src/routing/types.ts';
import { InvalidUserIdError } from '../src/routing/user-id.ts';
import { eventually } from './helpers/eventually.ts';

/**
 * Builds two fresh, not yet started routers that act as two gateways of one region: each
 * delivers to the other, and to nobody outside the pair.
 */
export type RouterPairFactory = () => Promise<[Router, Router]> | [Router, Router];

const WAIT = { timeoutMs: 5000, intervalMs: 10 } as const;

let seq = 0;
function uid(label: string): string {
  seq++;
  return `${label}-${seq}-${randomBytes(3).toString('hex')}`;
}

interface Gateway {
  router: Router;
  got: Delivery[];
  controls: ControlEvent[];
  /** Gaps the router reported (none while its transport stays up). */
  gaps: RoutingGap[];
  /** Deliveries and control events in arrival order, as `u:<userId>:<frame>` / `c:<conversationId>`. */
  arrivals: string[];
  payloadsFor(userId: string): string[];
}

/** A frame with no metadata (`kind: 'event'`). */
const ev = (frame: string): Routed => ({ kind: 'event', frame });

/**
 * The behaviour every `Router` implementation must have. Call at top level of a test file:
 * `routingContract('memory', () => { const bus = new MemoryBus(); return [new MemoryRouter(bus), new MemoryRouter(bus)]; })`.
 */
export function routingContract(name: string, makePair: RouterPairFactory): void {
  describe(`routing contract: ${name}`, () => {
    const open: Router[] = [];
    after(async () => {
      await Promise.all(open.map((r) => r.close()));
    });

    async function pair(opts: { startA?: boolean } = {}): Promise<[Gateway, Gateway]> {
      const routers = await makePair();
      open.push(...routers);
      const gateways = routers.map((router): Gateway => {
        const got: Delivery[] = [];
        return {
          router,
          got,
          controls: [],
          gaps: [],
          arrivals: [],
          payloadsFor: (userId) => got.filter((d) => d.userId === userId).map((d) => d.routed.frame),
        };
      }) as [Gateway, Gateway];
      await Promise.all(
        gateways.map((g, i) => (i === 0 && opts.startA === false ? undefined : g.router.start(handlers(g)))),
      );
      return gateways;
    }

    function handlers(g: Gateway) {
      return {
        onDelivery: (d: Delivery) => {
          g.got.push(d);
          g.arrivals.push(`u:${d.userId}:${d.routed.frame}`);
        },
        onControl: (e: ControlEvent) => {
          g.controls.push(e);
          g.arrivals.push(`c:${e.conversationId}`);
        },
        onGap: (gap: RoutingGap) => {
          g.gaps.push(gap);
        },
      };
    }

    /**
     * Everything `from` published before this call, and everything routed to `to`, has arrived:
     * publishes a marker to a user held by `to` and waits for it (one publisher's order holds).
     */
    async function settle(from: Gateway, to: Gateway): Promise<void> {
      const marker = uid('marker');
      to.router.addUser(marker);
      await to.router.ping();
      await from.router.ping();
      await from.router.publish([marker], ev('marker'));
      await eventually(() => assert.deepEqual(to.payloadsFor(marker), ['marker']), WAIT);
      to.router.removeUser(marker);
    }

    it('answers ping', async () => {
      const [a, b] = await pair();
      await a.router.ping();
      await b.router.ping();
    });

    it('delivers to a user held by the other gateway', async () => {
      const [a, b] = await pair();
      const alice = uid('alice');
      a.router.addUser(alice);
      await a.router.ping();
      await b.router.publish([alice], ev('hello alice'));
      await eventually(() => assert.deepEqual(a.got, [{ userId: alice, routed: ev('hello alice') }]), WAIT);
      assert.deepEqual(b.got, []);
      // A transport that stayed up reports no gap (a gap makes the gateway resync every socket).
      assert.deepEqual(a.gaps, []);
      assert.deepEqual(b.gaps, []);
    });

    it('never delivers a gateway its own publishes', async () => {
      const [a, b] = await pair();
      const bob = uid('bob');
      a.router.addUser(bob);
      b.router.addUser(bob); // held by both: only the other one gets it
      await a.router.ping();
      await b.router.ping();
      await a.router.publish([bob], ev('from a'));
      await eventually(() => assert.deepEqual(b.payloadsFor(bob), ['from a']), WAIT);
      await settle(b, a);
      await a.router.ping();
      assert.deepEqual(a.payloadsFor(bob), []);
    });

    it('stops delivering after removeUser', async () => {
      const [a, b] = await pair();
      const carol = uid('carol');
      a.router.addUser(carol);
      await a.router.ping();
      await b.router.publish([carol], ev('one'));
      await eventually(() => assert.deepEqual(a.payloadsFor(carol), ['one']), WAIT);
      a.router.removeUser(carol);
      await a.router.ping();
      await b.router.publish([carol], ev('two'));
      await settle(b, a);
      assert.deepEqual(a.payloadsFor(carol), ['one']);
      // And resumes after addUser.
      a.router.addUser(carol);
      await a.router.ping();
      await b.router.publish([carol], ev('three'));
      await eventually(() => assert.deepEqual(a.payloadsFor(carol), ['one', 'three']), WAIT);
    });

    it('treats addUser and removeUser as idempotent (no reference counting)', async () => {
      const [a, b] = await pair();
      const dan = uid('dan');
      a.router.addUser(dan);
      a.router.addUser(dan);
      await a.router.ping();
      await b.router.publish([dan], ev('once'));
      await eventually(() => assert.deepEqual(a.payloadsFor(dan), ['once']), WAIT);
      await settle(b, a);
      assert.deepEqual(a.payloadsFor(dan), ['once'], 'added twice, delivered once');
      a.router.removeUser(dan);
      a.router.removeUser(dan);
      a.router.removeUser(uid('never-added'));
      await a.router.ping();
      await b.router.publish([dan], ev('gone'));
      await settle(b, a);
      assert.deepEqual(a.payloadsFor(dan), ['once'], 'one removeUser is enough');
    });

    it('delivers one publish to several users on several gateways', async () => {
      const [a, b] = await pair();
      const [u1, u2, u3, nobody] = [uid('u1'), uid('u2'), uid('u3'), uid('nobody')];
      a.router.addUser(u1);
      a.router.addUser(u2);
      b.router.addUser(u3);
      await a.router.ping();
      await b.router.ping();
      await b.router.publish([u1, u2, u3, nobody], ev('group message'));
      await eventually(
        () =>
          assert.deepEqual(
            [...a.got].sort((x, y) => x.userId.localeCompare(y.userId)),
            [
              { userId: u1, routed: ev('group message') },
              { userId: u2, routed: ev('group message') },
            ].sort((x, y) => x.userId.localeCompare(y.userId)),
          ),
        WAIT,
      );
      await settle(a, b);
      assert.deepEqual(b.payloadsFor(u3), [], 'not to the publisher');
      await a.router.publish([u3], ev('dm'));
      await eventually(() => assert.deepEqual(b.payloadsFor(u3), ['dm']), WAIT);
    });

    it("preserves one publisher's order", async () => {
      const [a, b] = await pair();
      const erin = uid('erin');
      const frank = uid('frank');
      a.router.addUser(erin);
      a.router.addUser(frank);
      await a.router.ping();
      const n = 500;
      const expected: string[] = [];
      for (let i = 0; i < n; i++) {
        expected.push(`m${i}`);
        await b.router.publish(i % 2 === 0 ? [erin, frank] : [erin], ev(`m${i}`));
      }
      await eventually(() => assert.equal(a.payloadsFor(erin).length, n), WAIT);
      assert.deepEqual(a.payloadsFor(erin), expected);
      assert.deepEqual(
        a.payloadsFor(frank),
        expected.filter((_, i) => i % 2 === 0),
      );
    });

    it('carries payloads unchanged', async () => {
      const [a, b] = await pair();
      const gina = uid('gina');
      a.router.addUser(gina);
      await a.router.ping();
      const payloads = ['', '{"op":"msg","body":"héllo ✓ 😀"}', 'x'.repeat(64 * 1024), 'line\nbreak\r\n'];
      for (const p of payloads) await b.router.publish([gina], ev(p));
      await eventually(() => assert.deepEqual(a.payloadsFor(gina), payloads), WAIT);
    });

    it('carries the metadata beside the frame, unchanged', async () => {
      const [a, b] = await pair();
      const ivy = uid('ivy');
      a.router.addUser(ivy);
      await a.router.ping();
      const frame =
        '{"op":"message","message":{"id":"1","body":"\\"createdAt\\":5 m1 2\\ne"},"replay":false}';
      const sent: Routed[] = [
        { kind: 'message', messageId: '271828182845904523', createdAt: 1795000000123, frame },
        { kind: 'event', frame: '{"op":"typing"}' },
        { kind: 'message', messageId: '7', createdAt: 0, frame: '' },
        { kind: 'event', frame: '' },
      ];
      for (const r of sent) await b.router.publish([ivy], r);
      await eventually(
        () =>
          assert.deepEqual(
            a.got.map((d) => d.routed),
            sent,
          ),
        WAIT,
      );
    });

    it('delivers control events to every other gateway, not to the publisher', async () => {
      const [a, b] = await pair();
      await a.router.ping();
      await b.router.ping();
      const event: ControlEvent = { type: 'members_changed', conversationId: uid('g:conv') };
      await a.router.publishControl(event);
      await eventually(() => assert.deepEqual(b.controls, [event]), WAIT);
      // Needs no user held: a control event goes to the gateway, not to a user.
      await b.router.publishControl({ type: 'members_changed', conversationId: 'other' });
      await eventually(
        () => assert.deepEqual(a.controls, [{ type: 'members_changed', conversationId: 'other' }]),
        WAIT,
      );
      await settle(b, a);
      await settle(a, b);
      assert.deepEqual(a.controls, [{ type: 'members_changed', conversationId: 'other' }], 'not its own');
      assert.deepEqual(b.controls, [event], 'not its own');
      assert.equal(b.got.length, 1, 'only the settle marker');
    });

    it('keeps control events and frames in publish order', async () => {
      const [a, b] = await pair();
      const jay = uid('jay');
      a.router.addUser(jay);
      await a.router.ping();
      const expected: string[] = [];
      for (let i = 0; i < 50; i++) {
        await b.router.publishControl({ type: 'members_changed', conversationId: `c${i}` });
        await b.router.publish([jay], ev(`f${i}`));
        expected.push(`c:c${i}`, `u:${jay}:f${i}`);
      }
      await eventually(() => assert.deepEqual(a.arrivals, expected), WAIT);
    });

    it('subscribes users added before start', async () => {
      const [a, b] = await pair({ startA: false });
      const hank = uid('hank');
      a.router.addUser(hank);
      await a.router.start(handlers(a));
      await a.router.ping();
      await b.router.publish([hank], ev('after start'));
      await eventually(() => assert.deepEqual(a.payloadsFor(hank), ['after start']), WAIT);
    });

    it('rejects user ids that are not [A-Za-z0-9_-]{1,64}', async () => {
      const [a] = await pair();
      for (const bad of ['', 'a.b', 'a*', 'a>', 'with space', 'x'.repeat(65), 'ü']) {
        assert.throws(() => a.router.addUser(bad), InvalidUserIdError, JSON.stringify(bad));
        assert.throws(() => a.router.removeUser(bad), InvalidUserIdError, JSON.stringify(bad));
        await assert.rejects(
          a.router.publish(['ok-user', bad], ev('p')),
          InvalidUserIdError,
          JSON.stringify(bad),
        );
      }
      a.router.addUser('Az09_-');
      a.router.addUser('x'.repeat(64));
    });
  });
}
