import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Delivery, Router } from '../src/routing/types.ts';
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
  payloadsFor(userId: string): string[];
}

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
          payloadsFor: (userId) => got.filter((d) => d.userId === userId).map((d) => d.payload),
        };
      }) as [Gateway, Gateway];
      await Promise.all(
        gateways.map((g, i) =>
          i === 0 && opts.startA === false ? undefined : g.router.start((d) => g.got.push(d)),
        ),
      );
      return gateways;
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
      await from.router.publish([marker], 'marker');
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
      await b.router.publish([alice], 'hello alice');
      await eventually(() => assert.deepEqual(a.got, [{ userId: alice, payload: 'hello alice' }]), WAIT);
      assert.deepEqual(b.got, []);
    });

    it('never delivers a gateway its own publishes', async () => {
      const [a, b] = await pair();
      const bob = uid('bob');
      a.router.addUser(bob);
      b.router.addUser(bob); // held by both: only the other one gets it
      await a.router.ping();
      await b.router.ping();
      await a.router.publish([bob], 'from a');
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
      await b.router.publish([carol], 'one');
      await eventually(() => assert.deepEqual(a.payloadsFor(carol), ['one']), WAIT);
      a.router.removeUser(carol);
      await a.router.ping();
      await b.router.publish([carol], 'two');
      await settle(b, a);
      assert.deepEqual(a.payloadsFor(carol), ['one']);
      // And resumes after addUser.
      a.router.addUser(carol);
      await a.router.ping();
      await b.router.publish([carol], 'three');
      await eventually(() => assert.deepEqual(a.payloadsFor(carol), ['one', 'three']), WAIT);
    });

    it('treats addUser and removeUser as idempotent (no reference counting)', async () => {
      const [a, b] = await pair();
      const dan = uid('dan');
      a.router.addUser(dan);
      a.router.addUser(dan);
      await a.router.ping();
      await b.router.publish([dan], 'once');
      await eventually(() => assert.deepEqual(a.payloadsFor(dan), ['once']), WAIT);
      await settle(b, a);
      assert.deepEqual(a.payloadsFor(dan), ['once'], 'added twice, delivered once');
      a.router.removeUser(dan);
      a.router.removeUser(dan);
      a.router.removeUser(uid('never-added'));
      await a.router.ping();
      await b.router.publish([dan], 'gone');
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
      await b.router.publish([u1, u2, u3, nobody], 'group message');
      await eventually(
        () =>
          assert.deepEqual(
            [...a.got].sort((x, y) => x.userId.localeCompare(y.userId)),
            [
              { userId: u1, payload: 'group message' },
              { userId: u2, payload: 'group message' },
            ].sort((x, y) => x.userId.localeCompare(y.userId)),
          ),
        WAIT,
      );
      await settle(a, b);
      assert.deepEqual(b.payloadsFor(u3), [], 'not to the publisher');
      await a.router.publish([u3], 'dm');
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
        await b.router.publish(i % 2 === 0 ? [erin, frank] : [erin], `m${i}`);
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
      for (const p of payloads) await b.router.publish([gina], p);
      await eventually(() => assert.deepEqual(a.payloadsFor(gina), payloads), WAIT);
    });

    it('subscribes users added before start', async () => {
      const [a, b] = await pair({ startA: false });
      const hank = uid('hank');
      a.router.addUser(hank);
      await a.router.start((d) => a.got.push(d));
      await a.router.ping();
      await b.router.publish([hank], 'after start');
      await eventually(() => assert.deepEqual(a.payloadsFor(hank), ['after start']), WAIT);
    });

    it('rejects user ids that are not [A-Za-z0-9_-]{1,64}', async () => {
      const [a] = await pair();
      for (const bad of ['', 'a.b', 'a*', 'a>', 'with space', 'x'.repeat(65), 'ü']) {
        assert.throws(() => a.router.addUser(bad), InvalidUserIdError, JSON.stringify(bad));
        assert.throws(() => a.router.removeUser(bad), InvalidUserIdError, JSON.stringify(bad));
        await assert.rejects(
          a.router.publish(['ok-user', bad], 'p'),
          InvalidUserIdError,
          JSON.stringify(bad),
        );
      }
      a.router.addUser('Az09_-');
      a.router.addUser('x'.repeat(64));
    });
  });
}
