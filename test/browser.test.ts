/**
 * The web chat app and the dashboard in real headless Chromium (Debian's, driven by
 * playwright-core) against an embedded gateway: two people chat, one loses the network and comes
 * back, the gateway restarts under them, and the dashboard shows the traffic.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CloseCode } from '../src/errors.ts';
import {
  bubbles,
  launchChromium,
  newUserContext,
  openChat,
  openConversation,
  sendMessage,
} from './helpers/browser.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, TEST_SECRET, type TestGateway, testConfig, token } from './helpers/gateway.ts';
import { solidPng } from './helpers/png.ts';
import { freePort } from './helpers/ports.ts';

const OPERATOR_TOKEN = 'browser-test-operator-token';
const DM = 'dm:alice:bob';
const WAIT = { timeout: 20_000 };

describe('web app and dashboard in Chromium', () => {
  const config = testConfig(
    {},
    {
      auth: { secret: TEST_SECRET, devTokens: true, operatorToken: OPERATOR_TOKEN },
      dashboard: { errorRateAlert: 0.05, errorRateMinRequests: 20, windowSec: 10 },
    },
  );
  let dataDir: string;
  let port: number;
  let gw: TestGateway;
  let browser: Browser;
  let aliceCtx: BrowserContext;
  let bobCtx: BrowserContext;
  let alice: Page;
  let bob: Page;
  const errors: string[] = [];

  const start = async () => {
    gw = await startTestGateway({ config, dataDir, port });
  };
  const watchErrors = (page: Page, who: string) => {
    page.on('pageerror', (err) => errors.push(`${who}: ${err.message}`));
  };

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'chat-browser-'));
    port = await freePort();
    await start();
    browser = await launchChromium();
    aliceCtx = await newUserContext(browser);
    bobCtx = await newUserContext(browser);
  });

  after(async () => {
    await browser?.close();
    await gw?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the app, its bundle and the dashboard page', async () => {
    for (const [url, type] of [
      ['/', 'text/html'],
      ['/assets/chat.js', 'text/javascript'],
      ['/assets/chat.css', 'text/css'],
      ['/dashboard', 'text/html'],
      ['/assets/dashboard.js', 'text/javascript'],
    ] as const) {
      const res = await fetch(`${gw.httpUrl}${url}`);
      assert.equal(res.status, 200, url);
      assert.ok(
        res.headers.get('content-type')?.startsWith(type),
        `${url}: ${res.headers.get('content-type')}`,
      );
      const etag = res.headers.get('etag');
      assert.ok(etag);
      const again = await fetch(`${gw.httpUrl}${url}`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304, `${url} revalidates`);
    }
    assert.equal((await fetch(`${gw.httpUrl}/assets/nope.js`)).status, 404);
  });

  it('alice and bob chat: unread badge, typing indicator, read receipts', async () => {
    alice = await openChat(aliceCtx, gw.httpUrl, 'alice');
    bob = await openChat(bobCtx, gw.httpUrl, 'bob');
    watchErrors(alice, 'alice');
    watchErrors(bob, 'bob');

    await alice.click('#new-chat');
    await alice.fill('form[data-form="direct"] input[name="user"]', 'bob');
    await alice.click('form[data-form="direct"] button[type="submit"]');
    await alice.locator('#pane-title', { hasText: 'bob' }).waitFor(WAIT);
    await sendMessage(alice, 'hello bob');
    await sendMessage(alice, 'are you there?');

    // Bob has not opened it: two unread.
    const row = bob.locator(`.conv[data-id="${DM}"]`);
    await row.locator('.badge', { hasText: '2' }).waitFor(WAIT);
    assert.equal(await bob.title(), '(2) globalchat');
    await openConversation(bob, DM);
    await eventually(async () => assert.deepEqual(await bubbles(bob), ['hello bob', 'are you there?']));
    await row.locator('.badge').waitFor({ state: 'detached', ...WAIT });

    // Opening it read it: alice sees the receipt on her messages.
    await alice.locator('#messages .msg.mine[data-status="read"]').nth(1).waitFor(WAIT);
    await alice.locator('.read-note', { hasText: 'Read' }).waitFor(WAIT);

    // Bob types: alice sees it, in the conversation and in her list.
    await bob.locator('#composer-input').pressSequentially('yes, he', { delay: 20 });
    await alice.locator('#typing', { hasText: 'bob is typing' }).waitFor(WAIT);
    await alice.locator(`.conv[data-id="${DM}"] .preview-typing`).waitFor(WAIT);
    await bob.locator('#composer-input').fill('');
    await sendMessage(bob, 'yes, here!');
    await eventually(async () =>
      assert.deepEqual(await bubbles(alice), ['hello bob', 'are you there?', 'yes, here!']),
    );
    // A message from bob ends his typing indicator at once.
    assert.equal((await alice.locator('#typing').textContent())?.trim(), '');
    // Presence: each sees the other online.
    await alice.locator('#pane-subtitle', { hasText: 'online' }).waitFor(WAIT);
  });

  it('bob loses the network, sees that he is reconnecting, and gets what he missed', async () => {
    await bobCtx.setOffline(true);
    // Chromium keeps open WebSockets through offline emulation: drop bob's socket from the
    // server, as a dead network would, so his tab has to reconnect while offline.
    for (const state of gw.gateway.hub.all()) {
      if (state.conn.userId === 'bob') state.conn.close(CloseCode.GoingAway, 'test: network lost');
    }
    await bob.locator('#conn[data-state="reconnecting"]').waitFor(WAIT);
    assert.ok(await bob.locator('#offline-bar').isVisible());
    await alice.locator('#pane-subtitle', { hasText: /last seen|offline/ }).waitFor(WAIT);

    await sendMessage(alice, 'missed 1');
    await sendMessage(alice, 'missed 2');
    await alice.locator('#messages .msg.mine[data-status="sent"]').nth(1).waitFor(WAIT);

    await bobCtx.setOffline(false);
    await bob.locator('#conn[data-state="connected"]').waitFor({ timeout: 30_000 });
    const expected = ['hello bob', 'are you there?', 'yes, here!', 'missed 1', 'missed 2'];
    await eventually(async () => assert.deepEqual(await bubbles(bob), expected), { timeoutMs: 10_000 });
    await alice.locator('#pane-subtitle', { hasText: 'online' }).waitFor(WAIT);
  });

  it('the gateway restarts: both tabs reconnect, a message written meanwhile goes out once', async () => {
    await gw.stop();
    await alice.locator('#conn[data-state="reconnecting"]').waitFor(WAIT);
    await bob.locator('#conn[data-state="reconnecting"]').waitFor(WAIT);

    // Written while the gateway is down: it waits in the outbox (localStorage), shown as sending.
    await sendMessage(alice, 'sent during the restart');
    await alice.locator('#messages .msg.pending[data-status="sending"]').waitFor(WAIT);
    await alice.locator('#conn .outbox', { hasText: '1 unsent' }).waitFor(WAIT);

    await start();
    await alice.locator('#conn[data-state="connected"]').waitFor({ timeout: 30_000 });
    await bob.locator('#conn[data-state="connected"]').waitFor({ timeout: 30_000 });
    const expected = [
      'hello bob',
      'are you there?',
      'yes, here!',
      'missed 1',
      'missed 2',
      'sent during the restart',
    ];
    await eventually(async () => assert.deepEqual(await bubbles(bob), expected), { timeoutMs: 15_000 });
    await eventually(async () => assert.deepEqual(await bubbles(alice), expected), { timeoutMs: 15_000 });
    assert.equal(await alice.locator('#messages .msg.pending').count(), 0);

    // A reload resumes the same user and loads the history the restarted gateway kept.
    await bob.reload();
    await bob.locator('#conn[data-state="connected"]').waitFor(WAIT);
    await openConversation(bob, DM);
    await eventually(async () => assert.deepEqual(await bubbles(bob), expected), { timeoutMs: 10_000 });

    // Bob answers after the restart and alice still gets it live.
    await sendMessage(bob, 'all good after the restart');
    await alice
      .locator('#messages .msg.theirs .body', { hasText: 'all good after the restart' })
      .waitFor(WAIT);
  });

  it('a group: created in the app, others see it with its title', async () => {
    await alice.click('#new-chat');
    await alice.fill('form[data-form="group"] input[name="title"]', 'launch');
    await alice.fill('form[data-form="group"] input[name="members"]', 'bob, carol');
    await alice.click('form[data-form="group"] button[type="submit"]');
    await alice.locator('#pane-title', { hasText: '# launch' }).waitFor(WAIT);
    await sendMessage(alice, 'group hello');
    const row = bob.locator('.conv', { hasText: 'launch' });
    await row.locator('.badge', { hasText: '1' }).waitFor(WAIT);
    await row.click();
    await bob.locator('#messages .msg.theirs .sender', { hasText: 'alice' }).waitFor(WAIT);
  });

  it('finds a message by a word in the sidebar search and opens its conversation', async () => {
    await sendMessage(bob, 'the Launch checklist is ready');
    // Stored once alice has it live (she has the group open).
    await alice.locator('#messages .msg .body', { hasText: 'checklist' }).waitFor(WAIT);
    await alice.fill('#search-input', 'CHECKLIST launch');
    await alice.press('#search-input', 'Enter');
    const hit = alice.locator('#search-results .search-hit').first();
    await hit.waitFor(WAIT);
    assert.equal(await hit.locator('mark').count(), 2);
    assert.match((await hit.textContent()) ?? '', /bob: the Launch checklist is ready/);
    await alice.fill('#search-input', 'nowhere-to-be-found');
    await alice.press('#search-input', 'Enter');
    await alice.locator('#search-status', { hasText: 'No messages found' }).waitFor(WAIT);
    await openConversation(alice, DM);
    await alice.fill('#search-input', 'group hello');
    await alice.press('#search-input', 'Enter');
    await alice.locator('#search-results .search-hit', { hasText: 'launch' }).click();
    await alice.locator('#pane-title', { hasText: '# launch' }).waitFor(WAIT);
  });

  it('an image: alice attaches one in the group, bob sees it at its size', async () => {
    // Both are in the group the previous test made, and have it open.
    await alice.locator('#attach-input').setInputFiles({
      name: 'square.png',
      mimeType: 'image/png',
      buffer: solidPng(30, 20),
    });
    for (const page of [alice, bob]) {
      const img = page.locator('#messages img.attachment-img[alt="square.png"]');
      await img.waitFor(WAIT);
      // Loaded through the SDK (with the token) and shown from a blob URL.
      await eventually(
        async () => {
          const loaded = await img.evaluate((el) => {
            const i = el as unknown as { naturalWidth: number; naturalHeight: number; src: string };
            return [i.naturalWidth, i.naturalHeight, i.src.startsWith('blob:')];
          });
          assert.deepEqual(loaded, [30, 20, true]);
        },
        { timeoutMs: 10_000 },
      );
    }
    await bob
      .locator('.conv', { hasText: 'launch' })
      .locator('.conv-preview', { hasText: 'Photo' })
      .waitFor(WAIT);
  });

  it('scrolls back through history a page at a time', async () => {
    const carol = await TestClient.connect(gw.url, await token('carol'));
    const conv = 'dm:alice:carol';
    for (let i = 0; i < 60; i++) {
      const r = await carol.request('send', {
        conversationId: conv,
        body: `page ${i}`,
        clientMsgId: `p${i}`,
      });
      assert.equal(r.op, 'sent');
    }
    await carol.close();
    await alice.locator(`.conv[data-id="${conv}"] .badge`, { hasText: '60' }).waitFor(WAIT);
    // A fresh page knows none of them: it loads the newest page and the rest on demand. (A reload
    // keeping its resume position would replay them: they are within the position's lookback.)
    await alice.evaluate(() => {
      const store = (
        globalThis as unknown as {
          localStorage: { removeItem(k: string): void } & Record<string, unknown>;
        }
      ).localStorage;
      for (const k of Object.keys(store)) {
        if (k.endsWith(':position') || k.endsWith(':lastSeen')) store.removeItem(k);
      }
    });
    await alice.reload();
    await alice.locator('#conn[data-state="connected"]').waitFor(WAIT);
    await openConversation(alice, conv);
    await eventually(async () => assert.equal((await bubbles(alice)).length, 40), { timeoutMs: 10_000 });
    assert.equal((await bubbles(alice))[39], 'page 59');
    await alice.locator('#messages').evaluate((el) => {
      el.scrollTop = 0;
    });
    await eventually(async () => {
      const all = await bubbles(alice);
      assert.deepEqual(
        all,
        Array.from({ length: 60 }, (_, i) => `page ${i}`),
      );
    });
    await alice.locator('.history-start').waitFor(WAIT);
  });

  it('alice edits and deletes her messages: bob sees both, and the deleted text leaves both tabs', async () => {
    await openConversation(alice, DM);
    await openConversation(bob, DM);
    await sendMessage(alice, 'typo mesage');
    await sendMessage(alice, 'regret this');
    await bob.locator('#messages .msg .body', { hasText: 'regret this' }).waitFor(WAIT);
    const mine = (text: string) =>
      alice.locator('#messages .msg.mine', { has: alice.locator('.body', { hasText: text }) });

    alice.once('dialog', (d) => void d.accept('typo message'));
    await mine('typo mesage').hover();
    await mine('typo mesage').locator('[data-action="edit"]').click();
    await bob.locator('#messages .msg .body', { hasText: 'typo message' }).waitFor(WAIT);
    await bob
      .locator('#messages .msg', { has: bob.locator('.body', { hasText: 'typo message' }) })
      .locator('.edited')
      .waitFor(WAIT);

    alice.once('dialog', (d) => void d.accept());
    await mine('regret this').hover();
    await mine('regret this').locator('[data-action="delete"]').click();
    await bob.locator('#messages .msg .body.deleted', { hasText: 'Message deleted' }).waitFor(WAIT);
    await alice.locator('#messages .msg .body.deleted').waitFor(WAIT);
    for (const page of [alice, bob]) {
      assert.ok(!(await page.content()).includes('regret this'));
      // The SDK's persisted state (localStorage) holds no copy either.
      // A string, evaluated in the page: the test's own types have no DOM.
      const stored = String(await page.evaluate('JSON.stringify({ ...localStorage })'));
      assert.ok(!stored.includes('regret this'), stored);
    }
  });

  it('bob replies with a quote and both follow the thread in its panel, counts live', async () => {
    await openConversation(alice, DM);
    await openConversation(bob, DM);
    await sendMessage(alice, 'who brings the cake?');
    const root = bob.locator('#messages .msg', {
      has: bob.locator('.body', { hasText: 'who brings the cake?' }),
    });
    await root.waitFor(WAIT);
    await root.hover();
    await root.locator('[data-action="reply"]').click();
    await bob.locator('#reply-bar .quote-text', { hasText: 'who brings the cake?' }).waitFor(WAIT);
    await sendMessage(bob, 'I do');
    await bob.locator('#reply-bar').waitFor({ ...WAIT, state: 'hidden' });
    // Alice sees the reply quoting her message, and the count under her message.
    const reply = alice.locator('#messages .msg', { has: alice.locator('.body', { hasText: 'I do' }) });
    await reply.locator('.quote .quote-text', { hasText: 'who brings the cake?' }).waitFor(WAIT);
    await alice.locator('#messages [data-action="thread"]', { hasText: '1 reply' }).waitFor(WAIT);

    // Alice opens the thread and answers in it; bob's count follows live, and his panel too.
    await alice.locator('#messages [data-action="thread"]').click();
    await alice.locator('#thread-panel .thread-reply .body', { hasText: 'I do' }).waitFor(WAIT);
    await bob.locator('#messages [data-action="thread"]', { hasText: '1 reply' }).click();
    await alice.fill('#thread-input', 'with candles please');
    await alice.press('#thread-input', 'Enter');
    await bob.locator('#thread-panel .thread-reply .body', { hasText: 'with candles please' }).waitFor(WAIT);
    await alice
      .locator('#thread-panel .thread-reply .body', { hasText: 'with candles please' })
      .waitFor(WAIT);
    await bob.locator('#thread-count', { hasText: '2 replies' }).waitFor(WAIT);
    await alice.locator('#messages [data-action="thread"]', { hasText: '2 replies' }).waitFor(WAIT);
    await bob.click('#thread-close');
    await bob.locator('#thread-panel').waitFor({ ...WAIT, state: 'hidden' });
  });

  it('reactions: alice and bob react from the picker and chips, counts and who reacted update live', async () => {
    // Both have the DM open (previous test).
    await sendMessage(bob, 'react to this');
    const msg = (page: Page) =>
      page.locator('#messages .msg', { has: page.locator('.body', { hasText: 'react to this' }) });
    await msg(alice).waitFor(WAIT);
    await msg(alice).hover();
    await msg(alice).locator('[data-action="react"]').click();
    await msg(alice).locator('.reaction-picker [data-emoji="🎉"]').click();
    const chip = (page: Page, emoji: string) => msg(page).locator(`.reaction[data-emoji="${emoji}"]`);
    await chip(bob, '🎉').locator('.reaction-count', { hasText: '1' }).waitFor(WAIT);
    assert.equal(await chip(bob, '🎉').getAttribute('title'), 'alice reacted with 🎉');
    assert.equal(await chip(bob, '🎉').getAttribute('aria-pressed'), 'false');
    assert.equal(await chip(alice, '🎉').getAttribute('aria-pressed'), 'true');
    assert.equal(await msg(alice).locator('.reaction-picker').count(), 0, 'the picker closes');

    // bob joins in by clicking alice's chip, and adds another from the picker.
    await chip(bob, '🎉').click();
    await msg(bob).hover();
    await msg(bob).locator('[data-action="react"]').click();
    await msg(bob).locator('.reaction-picker [data-emoji="👍"]').click();
    await chip(alice, '🎉').locator('.reaction-count', { hasText: '2' }).waitFor(WAIT);
    await chip(alice, '👍').waitFor(WAIT);
    assert.equal(await chip(alice, '🎉').getAttribute('title'), 'bob and you reacted with 🎉');

    // alice takes hers back: bob's count drops, the chip stays his alone.
    await chip(alice, '🎉').click();
    await eventually(
      async () => assert.equal(await chip(bob, '🎉').getAttribute('title'), 'you reacted with 🎉'),
      { timeoutMs: 10_000 },
    );
    assert.equal(await chip(bob, '🎉').locator('.reaction-count').textContent(), '1');
    // bob removes his 👍: its chip goes from both tabs.
    await chip(bob, '👍').click();
    await eventually(async () => assert.equal(await chip(alice, '👍').count(), 0, 'chip gone'), {
      timeoutMs: 10_000,
    });

    // In the thread panel (alice left it open): a reaction there reaches bob's list too.
    const inThread = alice.locator('#thread-panel .msg', {
      has: alice.locator('.body', { hasText: 'with candles please' }),
    });
    await inThread.hover();
    await inThread.locator('[data-action="react"]').click();
    await inThread.locator('.reaction-picker [data-emoji="❤️"]').click();
    await inThread.locator('.reaction.mine[data-emoji="❤️"]').waitFor(WAIT);
    await bob
      .locator('#messages .msg', { has: bob.locator('.body', { hasText: 'with candles please' }) })
      .locator('.reaction[data-emoji="❤️"]', { hasText: '1' })
      .waitFor(WAIT);
  });

  it('the dashboard: refuses a wrong token, shows connections and traffic, alerts on errors', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const dash = await ctx.newPage();
    watchErrors(dash, 'dashboard');
    await dash.goto(`${gw.httpUrl}/dashboard#token=wrong-token-xxxxxxxx`);
    await dash.locator('#token-form .error', { hasText: 'refused' }).waitFor(WAIT);
    await dash.fill('#token', OPERATOR_TOKEN);
    await dash.click('#token-form button[type="submit"]');
    await dash.locator('#live', { hasText: 'live' }).waitFor(WAIT);
    assert.equal(new URL(dash.url()).hash, '', 'the token is not left in the address bar');
    // The deployment view of an embedded gateway: its one region, itself live in it.
    await dash.locator('#fleet [data-fleet-region] tr[data-state="live"]').waitFor(WAIT);
    assert.match((await dash.locator('#fleet').textContent()) ?? '', /Embedded mode/);

    const number = async (id: string) => Number((await dash.locator(`#${id} .value`).textContent()) ?? 'NaN');
    // `assert.ok` gets a message: without one, a failing attempt makes Node re-parse this file's
    // source to print the expression, which in this tsx-transpiled file spun for minutes.
    await eventually(async () => assert.ok((await number('connections')) >= 2, 'connections shown'));
    assert.match((await dash.locator('#regions').textContent()) ?? '', /Single region/);
    const stored = async () =>
      Number(/(\d+) stored/.exec((await dash.locator('#msgs-in').textContent()) ?? '')?.[1] ?? 'NaN');
    const before = await stored();
    await sendMessage(alice, 'traffic for the dashboard');
    await eventually(async () => assert.ok((await stored()) > before, 'stored count grows'), {
      timeoutMs: 10_000,
    });
    await eventually(async () => {
      const text = (await dash.locator('#store .value').textContent()) ?? '';
      assert.match(text, /^\d/, `store latency shown: ${text}`);
    });
    assert.equal(await dash.locator('#alerts').isVisible(), false);

    // 30 frames with an unknown op: far more than 5% errors over the window.
    const raw = await TestClient.connect(gw.url, await token('mallory'));
    for (let i = 0; i < 30; i++) raw.sendRaw(JSON.stringify({ op: 'fly', id: `f${i}` }));
    await dash.locator('#alerts .alert.error_rate').waitFor(WAIT);
    await dash.locator('#errors table', { hasText: 'unknown_op' }).waitFor(WAIT);
    await raw.close();
    await ctx.close();
  });

  it('no page threw', () => {
    assert.deepEqual(errors, []);
  });
});
