/**
 * `npx tsx scripts/screenshots.ts [outDir]`: starts an embedded gateway on a free port, plays a
 * small scene (a direct conversation with receipts and typing, a group with unread messages,
 * background traffic), and saves what headless Chromium shows to `docs/screenshots/chat.png`
 * and `docs/screenshots/dashboard.png` (or `outDir`).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { ChatClient, directConversationId } from '../src/client/index.ts';
import { launchChromium, openChat, openConversation, sendMessage } from '../test/helpers/browser.ts';
import { startTestGateway, TEST_SECRET, testConfig, token } from '../test/helpers/gateway.ts';

const OPERATOR_TOKEN = 'screenshots-operator-token';
const outDir = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '../docs/screenshots'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true });
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

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
