/**
 * `npx tsx scripts/screenshots.ts [outDir]`: starts an embedded gateway on a free port, plays a
 * small scene (a direct conversation with receipts and typing, a group with unread messages,
 * background traffic, then the group with an edited and a deleted message, reactions, an image,
 * search results and a thread), and saves what headless Chromium shows to `docs/screenshots/`
 * (`chat.png`, `messages.png`, `search.png`, `thread.png`, `dashboard.png`) or `outDir`.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import { ChatClient, directConversationId } from '../src/client/index.ts';
import { launchChromium, openChat, openConversation, sendMessage } from '../test/helpers/browser.ts';
import { startTestGateway, TEST_SECRET, testConfig, token } from '../test/helpers/gateway.ts';
import { rgbPng } from '../test/helpers/png.ts';

const OPERATOR_TOKEN = 'screenshots-operator-token';
const outDir = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '../docs/screenshots'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true });
  // The reactions in the pictures are emoji: without a colour emoji font most draw as boxes.
  execFileSync('bash', [path.join(import.meta.dirname, 'services.sh'), 'install-emoji-font'], {
    stdio: 'inherit',
  });
  const dataDir = await mkdtemp(path.join(tmpdir(), 'chat-shots-'));
  const gw = await startTestGateway({
    dataDir,
    config: testConfig({}, { auth: { secret: TEST_SECRET, devTokens: true, operatorToken: OPERATOR_TOKEN } }),
  });
  const clients: ChatClient[] = [];
  const client = async (user: string) => {
    const c = new ChatClient({
      urls: [gw.url],
      token: () => token(user),
      WebSocket: WebSocket as never,
      device: 'script',
    });
    await c.connect();
    clients.push(c);
    return c;
  };
  const browser = await launchChromium();
  try {
    const [bob, carol, dave] = await Promise.all([client('bob'), client('carol'), client('dave')]);
    const dm = directConversationId('alice', 'bob');
    await dave.send(
      directConversationId('alice', 'dave'),
      'Shipping the release notes tonight, ping me if anything is off.',
    );
    await dave.close();

    const ctx = await browser.newContext({ viewport: { width: 1180, height: 760 }, deviceScaleFactor: 1 });
    const alice = await openChat(ctx, gw.httpUrl, 'alice');
    await bob.send(dm, 'Hey Alice! Did the deploy to eu-west go through?');
    await alice.locator(`.conv[data-id="${dm}"]`).waitFor();
    await openConversation(alice, dm);
    await sendMessage(alice, 'Yes, all three regions are green.');
    await sleep(300);
    await sendMessage(alice, 'Failover drill at 3pm, I will watch the dashboard.');
    await alice.locator('#messages .msg.mine').nth(1).waitFor();
    await sleep(300);
    const history = await bob.history(dm, { limit: 1 });
    await bob.markRead(dm, history.messages[0]!.id);
    await bob.send(dm, 'Perfect. Replication lag looked fine this morning.');
    await sleep(300);
    await sendMessage(alice, 'Great, thanks!');
    await sleep(300);
    const last = await bob.history(dm, { limit: 1 });
    await bob.markRead(dm, last.messages[0]!.id);

    const group = await carol.createGroup('Weekend trip', ['alice', 'bob']);
    await carol.send(group.id, 'Cabin is booked for Saturday!');
    await carol.send(group.id, 'Who brings the board games?');
    await alice.locator('.conv', { hasText: 'Weekend trip' }).locator('.badge').waitFor();
    await bob.typing(dm);
    await alice.locator('#typing', { hasText: 'bob is typing' }).waitFor();
    await alice.screenshot({ path: path.join(outDir, 'chat.png') });
    console.log(`wrote ${path.join(outDir, 'chat.png')}`);
    await messagesScene(alice, group.id, bob, carol);

    // Background traffic for the dashboard's charts: a few users chatting at a varying rate,
    // and now and then a send to a group they are not in (a `forbidden` error).
    const names = ['erin', 'frank', 'grace', 'heidi'];
    const senders = await Promise.all(names.map(client));
    const dash = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await dash.goto(`${gw.httpUrl}/dashboard#token=${OPERATOR_TOKEN}`);
    await dash.locator('#live', { hasText: 'live' }).waitFor();
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 40_000) {
      const t = (Date.now() - started) / 1000;
      const perTick = Math.max(1, Math.round(3 + 2.5 * Math.sin(t / 4) + Math.random() * 2));
      const sends = Array.from({ length: perTick }, (_, i) => {
        const k = (n + i) % names.length;
        const to = ['alice', 'bob', 'carol'][(n + i) % 3]!;
        if ((n + i) % 97 === 0) return senders[k]!.send(group.id, 'let me in');
        return senders[k]!.send(directConversationId(names[k]!, to), `status update ${n + i}`);
      });
      await Promise.all(sends.map((p) => p.catch(() => {})));
      n += perTick;
      await sleep(100);
    }
    await dash.screenshot({ path: path.join(outDir, 'dashboard.png'), fullPage: true });
    console.log(`wrote ${path.join(outDir, 'dashboard.png')}`);
  } finally {
    for (const c of clients) await c.close();
    await browser.close();
    await gw.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The group with what issue 13 added: an edited and a deleted message, reactions with who
 * reacted, an image, then the sidebar's search results and a thread (`messages.png`,
 * `search.png`, `thread.png`).
 */
async function messagesScene(
  alice: Page,
  groupId: string,
  bob: ChatClient,
  carol: ChatClient,
): Promise<void> {
  await openConversation(alice, groupId);
  await sendMessage(alice, 'I can bring Catan and the new card game');
  await sendMessage(alice, 'Also my old tent, if anyone needs one');
  const mine = (text: string) =>
    alice.locator('#messages .msg.mine', { has: alice.locator('.body', { hasText: text }) });
  alice.once('dialog', (d) => void d.accept('I can bring Catan and Ticket to Ride'));
  await mine('Catan').hover();
  await mine('Catan').locator('[data-action="edit"]').click();
  await alice.locator('#messages .edited').waitFor();
  alice.once('dialog', (d) => void d.accept());
  await mine('old tent').hover();
  await mine('old tent').locator('[data-action="delete"]').click();
  await alice.locator('#messages .body.deleted').waitFor();

  const page = await carol.history(groupId, { limit: 10 });
  const byBody = (text: string) => page.messages.find((m) => m.body.includes(text))!.id;
  const booked = byBody('Cabin is booked');
  const catan = byBody('Catan');
  await bob.react(groupId, booked, '🎉');
  await carol.react(groupId, booked, '🎉');
  await bob.react(groupId, booked, '❤️');
  await bob.react(groupId, catan, '👍');
  await carol.react(groupId, catan, '😂');

  // A picture of the cabin: sent by carol, shown to alice from a blob URL at its size.
  const cabin = await carol.uploadAttachment(groupId, gradientPng(320, 180), {
    contentType: 'image/png',
    name: 'cabin.png',
  });
  await carol.send(groupId, 'The view from the cabin', { attachments: [cabin.id] });
  await alice.locator('#messages img.attachment-img[alt="cabin.png"]').waitFor();
  await alice.locator('.reaction[data-emoji="😂"]').waitFor();
  // Alice's own reaction, from the picker, to show it open and her chip highlighted.
  const view = alice.locator('#messages .msg', {
    has: alice.locator('.body', { hasText: 'The view from the cabin' }),
  });
  await view.hover();
  await view.locator('[data-action="react"]').click();
  await view.locator('.reaction-picker [data-emoji="❤️"]').click();
  await view.locator('.reaction.mine[data-emoji="❤️"]').waitFor();
  await eventuallyLoaded(alice);
  // The picker left open on another message, to show it.
  const games = alice.locator('#messages .msg', {
    has: alice.locator('.body', { hasText: 'board games' }),
  });
  await games.hover();
  await games.locator('[data-action="react"]').click();
  await alice.mouse.move(5, 740);
  await games.locator('.reaction-picker').waitFor();
  await sleep(300);
  await alice.screenshot({ path: path.join(outDir, 'messages.png') });
  console.log(`wrote ${path.join(outDir, 'messages.png')}`);
  await games.locator('[data-action="react"]').click();

  await alice.fill('#search-input', 'cabin');
  await alice.press('#search-input', 'Enter');
  await alice.locator('#search-results .search-hit').first().waitFor();
  await sleep(300);
  await alice.screenshot({ path: path.join(outDir, 'search.png') });
  console.log(`wrote ${path.join(outDir, 'search.png')}`);
  await alice.fill('#search-input', '');
  await alice.press('#search-input', 'Escape');

  // A thread under carol's question: replies from bob and carol, alice answers in the panel.
  const gamesId = byBody('board games');
  await bob.send(groupId, 'I can bring Codenames', { replyTo: gamesId });
  await carol.send(groupId, 'Perfect, I have a deck of cards too', { replyTo: gamesId });
  const link = alice.locator('#messages [data-action="thread"]', { hasText: '2 replies' });
  await link.waitFor();
  await link.click();
  await alice.locator('#thread-panel .thread-reply').nth(1).waitFor();
  await alice.fill('#thread-input', 'Great, that settles it 🎲');
  await alice.press('#thread-input', 'Enter');
  await alice.locator('#thread-panel .thread-reply .body', { hasText: 'settles it' }).waitFor();
  await bob.react(groupId, gamesId, '👍');
  await alice.locator('#thread-panel .thread-root .reaction[data-emoji="👍"]').waitFor();
  await alice.mouse.move(5, 740);
  await sleep(300);
  await alice.screenshot({ path: path.join(outDir, 'thread.png') });
  console.log(`wrote ${path.join(outDir, 'thread.png')}`);
  await alice.click('#thread-close');
}

/** Waits until every image in the message list has decoded (they load from blob URLs). */
async function eventuallyLoaded(page: Page): Promise<void> {
  await page.waitForFunction(
    'Array.from(document.querySelectorAll("#messages img")).every((i) => i.complete && i.naturalWidth > 0)',
  );
}

/** A sky-to-meadow gradient PNG, so the screenshot's picture looks like one. */
function gradientPng(width: number, height: number): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const f = y / (height - 1);
    const [r, g, b] =
      f < 0.62 ? [110 + 100 * f, 170 + 60 * f, 235] : [60 + 30 * (1 - f), 140 + 40 * (1 - f), 70];
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([Math.round(r), Math.round(g), Math.round(b)], 1 + x * 3);
    rows.push(row);
  }
  return rgbPng(width, height, Buffer.concat(rows));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
