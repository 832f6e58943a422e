import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { ControlEvent, Delivery, Routed, Router, RoutingGap } from '../src/routing/types.ts';
import { InvalidUserIdError } from '../src/routing/user-id.ts';
import { eventually } from './helpers/eventually.ts';

/**
 * Builds two fresh, not yet started routers that act as two gateways of one region (distinct
 * gateway ids): each delivers to the other, and to nobody outside the pair.
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
  /** Deliveries and control events in arrival order, as `u:<userIds>:<frame>` / `c:<conversationId>`. */
  arrivals: string[];
  /** Frames delivered for `userId`, in arrival order. */
  payloadsFor(userId: string): string[];
}

/** A frame with no metadata (`kind: 'event'`). */
const ev = (frame: string): Routed => ({ kind: 'event', frame });

/**
 * The behaviour every `Router` implementation must have. Call at top level of a test file:
 * `routingContract('memory', () => { const bus = new MemoryBus(); return [new MemoryRouter(bus, 'a'), new MemoryRouter(bus, 'b')]; })`.
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
          payloadsFor: (userId) => got.filter((d) => d.userIds.includes(userId)).map((d) => d.routed.frame),
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
          g.arrivals.push(`u:${d.userIds.join(',')}:${d.routed.frame}`);
        },
        onControl: (e: ControlEvent) => {
          g.controls.push(e);
          g.arrivals.push(
            `c:${e.type === 'members_changed' ? e.conversationId : e.type === 'blocks_changed' ? e.userId : e.type}`,
          );
        },
        onGap: (gap: RoutingGap) => {
          g.gaps.push(gap);
        },
      };
    }

    /** Publishes from `from` to `to`'s gateway. */
    const send = (from: Gateway, to: Gateway, userIds: readonly string[], routed: Routed) =>
      from.router.publish(to.router.gatewayId, userIds, routed);

    /**
     * Everything `from` published before this call has arrived: publishes a marker to `to` and
     * waits for it (one publisher's order holds).
     */
    async function settle(from: Gateway, to: Gateway): Promise<void> {
      const marker = uid('marker');
      await from.router.ping();
      await send(from, to, [marker], ev('marker'));
      await eventually(() => assert.deepEqual(to.payloadsFor(marker), ['marker']), WAIT);
    }

    it('answers ping', async () => {
      const [a, b] = await pair();
      await a.router.ping();
      await b.router.ping();
    });

    it('has distinct gateway ids', async () => {
      const [a, b] = await pair();
      assert.notEqual(a.router.gatewayId, b.router.gatewayId);
    });

    it('delivers to the gateway it is addressed to, from the moment start resolved', async () => {
      const [a, b] = await pair();
      const alice = uid('alice');
      // No ping, no wait: `start` resolving means the transport listens for the gateway.
      await send(b, a, [alice], ev('hello alice'));
      await eventually(
        () => assert.deepEqual(a.got, [{ userIds: [alice], routed: ev('hello alice') }]),
        WAIT,
      );
      assert.deepEqual(b.got, []);
      // A transport that stayed up reports no gap (a gap makes the gateway resync every socket).
      assert.deepEqual(a.gaps, []);
      assert.deepEqual(b.gaps, []);
    });

    it('delivers one publish for several users as one delivery, users in order', async () => {
      const [a, b] = await pair();
      const users = [uid('u1'), uid('u2'), uid('u3')];
      await send(b, a, users, ev('group message'));
      await eventually(
        () => assert.deepEqual(a.got, [{ userIds: users, routed: ev('group message') }]),
        WAIT,
      );
      await settle(a, b);
      assert.equal(b.got.length, 1, 'only the settle marker');
    });

    it('never publishes to its own gateway', async () => {
      const [a] = await pair();
      await assert.rejects(a.router.publish(a.router.gatewayId, [uid('me')], ev('self')), RangeError);
    });

    it('drops a publish to a gateway nobody listens for', async () => {
      const [a, b] = await pair();
      await b.router.publish(uid('gone'), [uid('x')], ev('lost'));
      await settle(b, a);
      assert.equal(a.got.length, 1, 'only the settle marker');
    });

    it('publishes nothing for no users', async () => {
      const [a, b] = await pair();
      await send(b, a, [], ev('nobody'));
      await settle(b, a);
      assert.equal(a.got.length, 1, 'only the settle marker');
    });

    it("preserves one publisher's order", async () => {
      const [a, b] = await pair();
      const erin = uid('erin');
      const frank = uid('frank');
      const n = 500;
      const expected: string[] = [];
      for (let i = 0; i < n; i++) {
        expected.push(`m${i}`);
        await send(b, a, i % 2 === 0 ? [erin, frank] : [erin], ev(`m${i}`));
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
      const payloads = ['', '{"op":"msg","body":"héllo ✓ 😀"}', 'x'.repeat(64 * 1024), 'line\nbreak\r\n'];
      for (const p of payloads) await send(b, a, [gina], ev(p));
      await eventually(() => assert.deepEqual(a.payloadsFor(gina), payloads), WAIT);
    });

    it('carries the metadata beside the frame, unchanged', async () => {
      const [a, b] = await pair();
      const ivy = uid('ivy');
      const frame =
        '{"op":"message","message":{"id":"1","body":"\\"createdAt\\":5 m1 2\\ne"},"replay":false}';
      const sent: Routed[] = [
        { kind: 'message', messageId: '271828182845904523', createdAt: 1795000000123, frame },
        { kind: 'event', frame: '{"op":"typing"}' },
        { kind: 'message', messageId: '7', createdAt: 0, frame: '' },
        { kind: 'event', frame: '' },
      ];
      for (const r of sent) await send(b, a, [ivy, 'x'.repeat(64)], r);
      await eventually(
        () =>
          assert.deepEqual(
            a.got.map((d) => d.routed),
            sent,
          ),
        WAIT,
      );
      for (const d of a.got) assert.deepEqual(d.userIds, [ivy, 'x'.repeat(64)]);
    });

    it('delivers control events to every other gateway, not to the publisher', async () => {
      const [a, b] = await pair();
      await a.router.ping();
      await b.router.ping();
      const event: ControlEvent = { type: 'members_changed', conversationId: uid('g:conv') };
      await a.router.publishControl(event);
      await eventually(() => assert.deepEqual(b.controls, [event]), WAIT);
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
      const expected: string[] = [];
      for (let i = 0; i < 50; i++) {
        await b.router.publishControl({ type: 'members_changed', conversationId: `c${i}` });
        await send(b, a, [jay], ev(`f${i}`));
        expected.push(`c:c${i}`, `u:${jay}:f${i}`);
      }
      await eventually(() => assert.deepEqual(a.arrivals, expected), WAIT);
    });

    it('receives nothing before start', async () => {
      const [a, b] = await pair({ startA: false });
      const hank = uid('hank');
      await send(b, a, [hank], ev('before start'));
      await a.router.start(handlers(a));
      await send(b, a, [hank], ev('after start'));
      await eventually(() => assert.deepEqual(a.payloadsFor(hank), ['after start']), WAIT);
    });

    it('rejects user ids that are not [A-Za-z0-9_-]{1,64}, and such gateway ids', async () => {
      const [a, b] = await pair();
      for (const bad of ['', 'a.b', 'a*', 'a>', 'with space', 'a,b', 'x'.repeat(65), 'ü']) {
        await assert.rejects(send(a, b, ['ok-user', bad], ev('p')), InvalidUserIdError, JSON.stringify(bad));
        await assert.rejects(a.router.publish(bad, ['ok-user'], ev('p')), RangeError, JSON.stringify(bad));
      }
      await send(a, b, ['Az09_-', 'x'.repeat(64)], ev('ok'));
      await eventually(() => assert.deepEqual(b.payloadsFor('Az09_-'), ['ok']), WAIT);
    });
  });
}
