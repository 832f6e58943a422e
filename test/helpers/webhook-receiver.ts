/**
 * A webhook receiver for tests: a real `node:http` server on a free loopback port that verifies
 * every delivery's signature (as a production receiver would, with `verifyWebhook`) and records
 * it. `respond` decides each answer's status (default 200), so a test can fail deliveries.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookEvent } from '../../src/webhooks/event-types.ts';
import { verifyWebhook } from '../../src/webhooks/signature.ts';

export interface ReceivedDelivery {
  event: WebhookEvent;
  /** The `Webhook-Id` header. */
  id: string;
  attempt: number;
  verified: boolean;
  status: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every delivery, in arrival order (failed ones included). */
  deliveries: ReceivedDelivery[];
  /** Deliveries answered 2xx. */
  delivered(): ReceivedDelivery[];
  /** Decides the status of a delivery (called before it is recorded). */
  respond: (event: WebhookEvent, attempt: number) => number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const deliveries: ReceivedDelivery[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    deliveries,
    delivered: () => deliveries.filter((d) => d.status < 300),
    respond: () => 200,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const verified = verifyWebhook({ secret, body, headers: req.headers });
      const event = JSON.parse(body) as WebhookEvent;
      const attempt = Number(req.headers['webhook-attempt'] ?? '0');
      const status = verified ? receiver.respond(event, attempt) : 401;
      deliveries.push({ event, id: String(req.headers['webhook-id']), attempt, verified, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}
