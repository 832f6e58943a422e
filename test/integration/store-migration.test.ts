/**
 * Moving a region to a new store while its users chat: a gateway on the embedded store (a
 * `npm start` node) moves into a real Cassandra keyspace, and a gateway on one Cassandra keyspace
 * moves into another. SDK clients send and receive the whole time; the phases are changed by
 * `scripts/migrate-store.ts` run as a separate process (as an operator runs it), and the gateway
 * follows each within its poll interval without restarting. Proves: no acked message lost or
 * shown twice, no request refused, the verification report empty of differences (offline queues
 * and unread state compared for every user), a rollback that loses nothing, and the users'
 * offline queues and unread counts served from the new store afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatClient, WireMessage } from '../../src/client/index.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { StorePhase } from '../../src/storage/migration/index.ts';
import { type CassandraEndpoint, getSharedCassandra } from '../helpers/cassandra.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestGateway, TEST_SECRET, type TestGateway } from '../helpers/gateway.ts';
import { onCleanup, sdkClient, sdkUser } from '../helpers/sdk-clients.ts';
import { commandArgs, MigrationOperator, migrate, TargetKeyspaces } from '../helpers/store-migration.ts';

const POLL_MS = 200;

let cassandra: CassandraEndpoint & { close(): Promise<void> };
const keyspaces = new TargetKeyspaces(() => cassandra);

before(async () => {
  cassandra = await getSharedCassandra();
});
after(async () => {
  await keyspaces.dropAll();
  await cassandra.close();
});

/** Every message a client was given (`message` events: each id once per client by contract). */
function received(c: ChatClient): WireMessage[] {
  const all: WireMessage[] = [];
  c.on('message', (m) => all.push(m));
  return all;
}

interface Sent {
  id: string;
  conversationId: string;
  sender: string;
}

/**
 * The story, for any old store: `oldRegion` is the region's own store config, `from` the
 * command's spec of it. Returns when the region runs on the new keyspace alone.
 */
function migrationStory(
  name: string,
  oldStore: () => { region: Record<string, unknown>; from: (dir: string) => string },
) {
  describe(`store migration under traffic: ${name}`, () => {
    let gw: TestGateway;
    let dataDir: string;
    let args: string[];
    let reportDir: string;
    const target = keyspaces.name();

    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'chat-mig-gw-'));
      reportDir = join(dataDir, 'reports');
      const old = oldStore();
      const config = parseConfig({
        regions: [
          {
            name: 'test',
            id: 1,
            gateway: { host: '127.0.0.1', port: 0 },
            ...old.region,
            storeMigration: { to: { cassandra: keyspaces.config(target) }, pollMs: POLL_MS },
          },
        ],
        auth: { secret: TEST_SECRET, devTokens: true },
        presence: { ttlMs: 3000, heartbeatMs: 500 },
      });
      gw = await startTestGateway({ config, dataDir });
      onCleanup(async () => {
        await gw.stop();
        await rm(dataDir, { recursive: true, force: true });
      });
      args = [...commandArgs(old.from(dataDir), keyspaces.spec(target), dataDir, POLL_MS), '--batch', '2'];
    });

    const operator = new MigrationOperator(
      () => gw,
      () => args,
      () => reportDir,
    );
    const phase = (to: StorePhase) => operator.phase(to);
    const run = (command: 'backfill' | 'reconcile' | 'verify') => operator.run(command);

    it('moves every conversation while users send and receive, with a rollback on the way', async () => {
      const alice = sdkUser('alice');
      const bob = sdkUser('bob');
      const carol = sdkUser('carol');
      const dave = sdkUser('dave');
      const a = sdkClient(gw.url, alice);
      const b = sdkClient(gw.url, bob);
      const aGot = received(a);
      const bGot = received(b);
      await Promise.all([a.connect(), b.connect()]);
      const g1 = (await a.createGroup('g1', [bob, carol, dave])).id;
      const g2 = (await b.createGroup('g2', [alice, carol])).id;

      // carol's device comes and goes (her offline queue fills and drains); dave never connects.
      const c = sdkClient(gw.url, carol);
      const carolGot = received(c);

      const sent: Sent[] = [];
      const refused: unknown[] = [];
      const stop = { done: false };
      const sender = async (c: ChatClient, who: string, conversations: string[]) => {
        let k = 0;
        while (!stop.done) {
          const conversationId = conversations[k % conversations.length]!;
          try {
            const info = await c.send(conversationId, `${who} ${k}`);
            sent.push({ id: info.messageId, conversationId, sender: who });
            if (who === bob && k % 5 === 0) await c.markRead(conversationId, info.messageId);
          } catch (err) {
            refused.push(err);
          }
          k++;
          await sleep(25);
        }
      };
      const carolLoop = async () => {
        let on = false;
        while (!stop.done) {
          if (on) await c.close();
          else await c.connect();
          on = !on;
          await sleep(700);
        }
      };
      const traffic = Promise.all([sender(a, alice, [g1, g2]), sender(b, bob, [g2, g1]), carolLoop()]);
      const count = () => sent.length;
      const waitFor = async (more: number) => {
        const target = count() + more;
        await eventually(
          () =>
            assert.ok(
              count() >= target,
              `sent ${count()} of ${target}; refused ${refused.length}: ${String(refused[0])}`,
            ),
          { timeoutMs: 60_000 },
        );
      };

      try {
        await waitFor(20);
        await phase('dual-write');
        await waitFor(10);
        const filled = await run('backfill');
        assert.ok(filled.counts.messages >= 30, `backfilled ${filled.counts.messages} messages`);
        await phase('compare');
        await waitFor(20);
        await run('reconcile');
        await phase('read-new');
        await waitFor(20);
        // Rollback: the old store had every write made while reading from the new one.
        await phase('old');
        await waitFor(20);
        // The new store missed what was written in `old`: dual-write again, reconcile, go on.
        await phase('dual-write');
        const refill = await run('reconcile');
        assert.ok(refill.repaired.length > 0, 'what the new store missed during the rollback was repaired');
        await phase('compare');
        await waitFor(10);
        await run('reconcile');
        await phase('read-new');
        await waitFor(20);
      } finally {
        stop.done = true;
        await traffic;
      }
      // Quiet: the last verification compares every row, offline queue and unread count.
      await c.connect();
      await sleep(500);
      await c.close();
      const final = await run('verify');
      assert.ok(final.users >= 4);
      await phase('new-only');
      await phase('done');
      const r = await migrate(['phase', 'read-new', ...args]);
      assert.notEqual(r.code, 0, 'no way back from done');

      assert.deepEqual(refused, [], 'no request refused');
      assert.ok(sent.length >= 150, `sent ${sent.length}`);
      assert.equal(new Set(sent.map((s) => s.id)).size, sent.length, 'each acked send has its own id');
      // Live delivery: each acked message given once to the other sender.
      const once = (got: WireMessage[], from: string, who: string) => {
        const ids = got.filter((m) => m.senderId === from).map((m) => m.id);
        assert.equal(new Set(ids).size, ids.length, `${who} was shown a message twice`);
        const expected = sent.filter((s) => s.sender === from).map((s) => s.id);
        const missing = expected.filter((id) => !ids.includes(id));
        assert.deepEqual(missing, [], `${who} missed acked messages`);
      };
      await eventually(
        () => {
          once(bGot, alice, 'bob');
          once(aGot, bob, 'alice');
        },
        { timeoutMs: 20_000 },
      );
      // Served now by the new store alone: every acked message in history once, carol's queue
      // delivered, dave's whole backlog as unread and then delivered.
      const all = async (c: ChatClient, id: string) => {
        const out: string[] = [];
        let before: string | undefined;
        for (;;) {
          const page = await c.history(id, { limit: 100, ...(before ? { before } : {}) });
          out.push(...page.messages.map((m) => m.id));
          if (!page.hasMore) return out;
          before = page.messages[page.messages.length - 1]!.id;
        }
      };
      const inHistory = [...(await all(a, g1)), ...(await all(a, g2))];
      assert.equal(new Set(inHistory).size, inHistory.length, 'no message stored twice');
      assert.deepEqual(
        sent.map((s) => s.id).filter((id) => !inHistory.includes(id)),
        [],
        'every acked message is in history',
      );
      await c.connect();
      await eventually(
        () => {
          const ids = carolGot.map((m) => m.id);
          assert.deepEqual(
            sent.map((s) => s.id).filter((id) => !ids.includes(id)),
            [],
          );
        },
        { timeoutMs: 20_000 },
      );
      assert.equal(new Set(carolGot.map((m) => m.id)).size, carolGot.length, 'carol shown nothing twice');
      const d = sdkClient(gw.url, dave);
      const daveGot = received(d);
      await d.connect();
      const summary = (await d.listConversations()).find((c) => c.id === g1);
      const toDave = sent.filter((s) => s.conversationId === g1);
      assert.equal(summary?.unreadCount, Math.min(toDave.length, 1000));
      await eventually(
        () =>
          assert.deepEqual(
            toDave.map((s) => s.id).filter((id) => !daveGot.some((m) => m.id === id)),
            [],
          ),
        { timeoutMs: 20_000 },
      );
      assert.equal(new Set(daveGot.map((m) => m.id)).size, daveGot.length, 'dave shown nothing twice');
    });
  });
}

migrationStory('embedded (npm start) to Cassandra', () => ({
  region: {},
  from: (dir) => `embedded:${dir}`,
}));

migrationStory('Cassandra keyspace to another keyspace', () => {
  const ks = keyspaces.name();
  return { region: { cassandra: keyspaces.config(ks) }, from: () => keyspaces.spec(ks) };
});
