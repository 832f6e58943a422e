/**
 * A gateway process (`node dist/main.js`, embedded store) killed with SIGKILL while a user's
 * messages are in flight, restarted on the same data, and the messages not acked sent again
 * under their clientMsgId, as the SDK does. What webhook tests count events against.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestClient } from './client.ts';
import { TEST_SECRET } from './gateway.ts';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.ts';

/** Writes a one-region embedded config (`extra` merged at the top level) and returns a starter. */
export async function embeddedGatewayConfig(
  dir: string,
  port: number,
  extra: Record<string, unknown>,
): Promise<() => Promise<GatewayProcess>> {
  const configFile = join(dir, 'regions.yaml');
  // YAML is a superset of JSON.
  await writeFile(
    configFile,
    JSON.stringify({
      regions: [{ name: 'solo', id: 1, gateway: { host: '127.0.0.1', port }, dataDir: join(dir, 'data') }],
      auth: { secret: TEST_SECRET },
      log: { level: 'warn' },
      ...extra,
    }),
  );
  return () => startGatewayProcess({ configFile, region: 'solo', port, workerId: 1, dir });
}

export interface SendAcrossKill {
  /** The gateway as restarted. */
  gw: GatewayProcess;
  /** The sender's connection to it. */
  client: TestClient;
  /** clientMsgId → messageId of every message, all acked in the end. */
  acked: Map<string, string>;
  /** How many were acked before the kill. */
  ackedBeforeKill: number;
}

/**
 * Sends `before` messages one by one (each acked), then `burst` more without waiting, kills the
 * gateway as soon as the first of the burst is acked (some of it acked, some stored and not
 * acked, some never read), restarts it, resends the burst's unacked messages, then sends
 * `after` more. Message `i`
 * has clientMsgId `${idPrefix}${i}` and body `body(i)`.
 */
export async function sendAcrossKill(opts: {
  gw: GatewayProcess;
  restart: () => Promise<GatewayProcess>;
  token: string;
  conversationId: string;
  before: number;
  burst: number;
  /** Messages sent one by one after the restart (default none). */
  after?: number;
  idPrefix: string;
  body: (i: number) => string;
}): Promise<SendAcrossKill> {
  const { conversationId, idPrefix } = opts;
  const acked = new Map<string, string>();
  let client = await TestClient.connect(opts.gw.url, opts.token);
  await client.waitFor((f) => f.op === 'synced');
  // The restarted gateway's rate limit (100-frame burst, 50/s) can answer `rate_limited` to the
  // resend run on a fast machine; the SDK backs off and resends then, and so does this.
  const sendAcked = async (i: number, firstAttempt: number) => {
    const clientMsgId = `${idPrefix}${i}`;
    for (let attempt = firstAttempt; ; attempt++) {
      const reply = await client.request('send', {
        conversationId,
        body: opts.body(i),
        clientMsgId,
        attempt,
      });
      if (reply.op === 'error' && reply.code === 'rate_limited' && attempt < firstAttempt + 20) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      assert.equal(reply.op, 'sent', `send ${clientMsgId} answered ${JSON.stringify(reply)}`);
      acked.set(clientMsgId, String(reply.messageId));
      return;
    }
  };
  for (let i = 0; i < opts.before; i++) await sendAcked(i, 1);
  const end = opts.before + opts.burst;
  for (let i = opts.before; i < end; i++) {
    client.sendRaw(
      JSON.stringify({
        op: 'send',
        id: `b${i}`,
        conversationId,
        body: opts.body(i),
        clientMsgId: `${idPrefix}${i}`,
      }),
    );
  }
  await client.waitFor((f) => f.op === 'sent' && f.id === `b${opts.before}`);
  await opts.gw.kill('SIGKILL');
  for (const f of client.frames) {
    if (f.op === 'sent' && typeof f.id === 'string' && f.id.startsWith('b'))
      acked.set(`${idPrefix}${f.id.slice(1)}`, String(f.messageId));
  }
  const ackedBeforeKill = acked.size;
  const gw = await opts.restart();
  client = await TestClient.connect(gw.url, opts.token);
  await client.waitFor((f) => f.op === 'synced');
  for (let i = opts.before; i < end; i++) if (!acked.has(`${idPrefix}${i}`)) await sendAcked(i, 2);
  for (let i = end; i < end + (opts.after ?? 0); i++) await sendAcked(i, 1);
  assert.equal(acked.size, end + (opts.after ?? 0));
  return { gw, client, acked, ackedBeforeKill };
}
