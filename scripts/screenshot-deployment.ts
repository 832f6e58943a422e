/**
 * `npx tsx scripts/screenshot-deployment.ts [outDir]`: three regions on a NATS supercluster (one
 * gateway each, embedded storage, replication between them), light chat traffic within and
 * across regions, and after a minute of it what headless Chromium shows of one gateway's dashboard: every
 * gateway of every region, their lag to each other and the hour chart. Saved as
 * `docs/screenshots/deployment.png` (or in `outDir`).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { ChatClient, directConversationId } from '../src/client/index.ts';
import { parseConfig } from '../src/config/load.ts';
import type { Gateway } from '../src/gateway/gateway.ts';
import { launchChromium } from '../test/helpers/browser.ts';
import { TEST_SECRET, token } from '../test/helpers/gateway.ts';
import { startNatsSupercluster } from '../test/helpers/nats.ts';
import { startRegionGateways } from '../test/helpers/region-gateways.ts';

const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const;
const OPERATOR_TOKEN = 'screenshots-operator-token';
const TRAFFIC_MS = 60_000;
const outDir = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '../docs/screenshots'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const sc = await startNatsSupercluster([...REGIONS]);
  const config = parseConfig({
    regions: REGIONS.map((name, i) => ({
      name,
      id: i + 1,
      gateway: { host: '127.0.0.1', port: 0 },
      nats: { servers: [sc.urls[name]!] },
    })),
    auth: { secret: TEST_SECRET, devTokens: true, operatorToken: OPERATOR_TOKEN },
  });
  const gateways = new Map<string, Gateway>();
  const dirs: string[] = [];
  const clients: ChatClient[] = [];
  try {
    const started = await startRegionGateways(config, REGIONS, async (region) => {
      const dir = await mkdtemp(path.join(tmpdir(), `shots-${region}-`));
      dirs.push(dir);
      return dir;
    });
    for (const [region, gw] of started) gateways.set(region, gw);
    // Two users per region; each writes to a neighbour in its region and to one in the next.
    const users = REGIONS.flatMap((region, i) => [`u${i}a`, `u${i}b`].map((user) => ({ user, region })));
    for (const { user, region } of users) {
      const c = new ChatClient({
        urls: [gateways.get(region)!.url],
        token: () => token(user),
        WebSocket: WebSocket as never,
        device: 'script',
      });
      await c.connect();
      clients.push(c);
    }
    // Traffic runs on while the picture is taken, so the live figures are not zeros.
    let sending = true;
    const traffic = (async () => {
      for (let n = 0; sending; n++) {
        await Promise.all(
          clients.map((c, i) => {
            const peer = users[(i + (i % 2 === 0 ? 1 : 2)) % users.length]!.user;
            return c.send(directConversationId(users[i]!.user, peer), `message ${n}`);
          }),
        );
        await sleep(150 + (n % 7) * 40);
      }
    })();
    await sleep(TRAFFIC_MS);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${gateways.get('eu-west')!.httpUrl}/dashboard#token=${OPERATOR_TOKEN}`);
      for (const region of REGIONS) {
        await page
          .locator(`#fleet [data-fleet-region="${region}"] tr[data-state="live"]`)
          .waitFor({ timeout: 20_000 });
      }
      await page.locator('#fleet-chart polyline').first().waitFor({ state: 'attached', timeout: 20_000 });
      await sleep(2000);
      await page.locator('#fleet').screenshot({ path: path.join(outDir, 'deployment.png') });
      console.log(`saved ${path.join(outDir, 'deployment.png')}`);
    } finally {
      await browser.close();
      sending = false;
      await traffic;
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const gw of gateways.values()) await gw.stop();
    await sc.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
