/**
 * A `npm start` node's conversations move into a Cassandra region while a web-app user keeps
 * chatting: alice in Chromium and bob through the SDK write to each other the whole time the
 * operator walks the phases with `scripts/migrate-store.ts` (dual-write, backfill, compare,
 * reconcile, read-new, new-only, done). Every message each typed reaches the other once (on
 * alice's screen, in bob's client), the verification finds no difference, and after the move the
 * new store alone serves the whole conversation: to the SDK's history and to a fresh page load.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { directConversationId, type WireMessage } from '../../src/client/index.ts';
import { parseConfig } from '../../src/config/load.ts';
import {
  bubbles,
  launchChromium,
  newUserContext,
  openChat,
  openConversation,
  sendMessage,
} from '../helpers/browser.ts';
import { type CassandraEndpoint, getSharedCassandra } from '../helpers/cassandra.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestGateway, TEST_SECRET, type TestGateway } from '../helpers/gateway.ts';
import { sdkClient, sdkUser } from '../helpers/sdk-clients.ts';
import { commandArgs, MigrationOperator, TargetKeyspaces } from '../helpers/store-migration.ts';

const POLL_MS = 200;

describe('store migration: a web-app user keeps chatting while a npm start node moves into Cassandra', () => {
  let cassandra: CassandraEndpoint & { close(): Promise<void> };
  const keyspaces = new TargetKeyspaces(() => cassandra);
  let gw: TestGateway;
  let dataDir: string;
  let browser: Browser;
  let args: string[];
  const operator = new MigrationOperator(
    () => gw,
    () => args,
    () => join(dataDir, 'reports'),
  );

  before(async () => {
    cassandra = await getSharedCassandra();
    dataDir = await mkdtemp(join(tmpdir(), 'chat-mig-web-'));
    const target = keyspaces.name();
    const config = parseConfig({
      regions: [
        {
          name: 'test',
          id: 1,
          gateway: { host: '127.0.0.1', port: 0 },
          storeMigration: { to: { cassandra: keyspaces.config(target) }, pollMs: POLL_MS },
        },
      ],
      auth: { secret: TEST_SECRET, devTokens: true },
    });
    gw = await startTestGateway({ config, dataDir });
    args = commandArgs(`embedded:${dataDir}`, keyspaces.spec(target), dataDir, POLL_MS);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await keyspaces.dropAll();
    await cassandra?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('every message typed on either side is on the other side once, before, during and after', async () => {
    const alice = sdkUser('alice');
    const bob = sdkUser('bob');
    const dm = directConversationId(alice, bob);
    const b = sdkClient(gw.url, bob);
    const bobGot: WireMessage[] = [];
    b.on('message', (m) => bobGot.push(m));
    await b.connect();
    await b.openDirect(alice);
    const page = await openChat(await newUserContext(browser), gw.httpUrl, alice);
    await openConversation(page, dm);

    const fromBob: string[] = [];
    const fromAlice: string[] = [];
    let n = 0;
    /** One exchange: alice types in the page, bob answers through the SDK; both must be acked. */
    const exchange = async () => {
      const mine = `alice says ${n}`;
      await sendMessage(page, mine);
      fromAlice.push(mine);
      const theirs = `bob says ${n}`;
      await b.send(dm, theirs);
      fromBob.push(theirs);
      n++;
    };
    let chatting = true;
    const chat = (async () => {
      while (chatting) {
        await exchange();
        await sleep(150);
      }
    })();
    const exchanges = async (more: number) => {
      const target = n + more;
      await eventually(() => assert.ok(n >= target, `${n} of ${target} exchanges`), { timeoutMs: 60_000 });
    };

    try {
      await exchanges(5);
      await operator.phase('dual-write');
      await exchanges(3);
      await operator.run('backfill');
      await operator.phase('compare');
      await exchanges(3);
      await operator.run('reconcile');
      await operator.phase('read-new');
      await exchanges(3);
    } finally {
      chatting = false;
      await chat;
    }
    assert.deepEqual((await operator.run('verify')).remaining, []);
    await operator.phase('new-only');
    await exchange();
    await operator.phase('done');
    await exchange();

    // Live: bob got each of alice's messages once; alice's page shows each of bob's once.
    await eventually(
      () => {
        const got = bobGot.filter((m) => m.senderId === alice).map((m) => m.body);
        assert.deepEqual(got.sort(), [...fromAlice].sort());
      },
      { timeoutMs: 20_000 },
    );
    const onScreen = async (p: typeof page) => {
      const shown = await bubbles(p);
      for (const body of [...fromAlice, ...fromBob])
        assert.equal(shown.filter((s) => s === body).length, 1, `"${body}" shown once`);
    };
    await eventually(() => onScreen(page), { timeoutMs: 20_000 });
    // Served by the new store alone now: history holds the whole conversation, each message
    // once, and a fresh load of the page shows its newest page (40) of it, each once.
    const history: string[] = [];
    for (let before: string | undefined; ; ) {
      const p = await b.history(dm, { limit: 100, ...(before ? { before } : {}) });
      history.push(...p.messages.map((m) => m.body));
      if (!p.hasMore) break;
      before = p.messages[p.messages.length - 1]!.id;
    }
    assert.deepEqual([...history].sort(), [...fromAlice, ...fromBob].sort());
    const fresh = await openChat(await newUserContext(browser), gw.httpUrl, alice);
    await openConversation(fresh, dm);
    const newest = history.slice(0, 40);
    await eventually(async () => assert.deepEqual([...(await bubbles(fresh))].sort(), [...newest].sort()), {
      timeoutMs: 20_000,
    });
    await b.close();
  });
});
