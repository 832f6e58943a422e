/**
 * A small app backend as a product would write one against globalchat: it talks to the chat
 * server only through the server API (HTTP, an API key) and receives its webhooks (a real
 * `node:http` receiver verifying every signature). Tests use it to check the API and webhooks
 * from the outside, the way an app's own server sees them.
 */
import type { WebhookEvent, WebhookEventType } from '../../src/webhooks/event-types.ts';
import { type ReceivedDelivery, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

export interface ApiError {
  status: number;
  code: string;
}

export class AppBackend {
  private constructor(
    private readonly apiBase: string,
    private readonly apiKey: string,
    readonly hooks: WebhookReceiver,
  ) {}

  /** Starts the webhook receiver; `apiBase` may be set later (the gateway's port is known after). */
  static async start(opts: { apiKey: string; webhookSecret: string }): Promise<AppBackend> {
    return new AppBackend('', opts.apiKey, await startWebhookReceiver(opts.webhookSecret));
  }

  /** The backend pointed at a gateway (`http://host:port`). */
  at(gatewayHttpUrl: string): AppBackend {
    return new AppBackend(`${gatewayHttpUrl}/api`, this.apiKey, this.hooks);
  }

  async call<T>(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    const res = await fetch(`${this.apiBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : null;
    if (!res.ok) {
      const code = (json as { error?: { code?: string } } | null)?.error?.code ?? 'unknown';
      throw Object.assign(new Error(`${method} ${path}: ${res.status} ${code}`), {
        status: res.status,
        code,
      });
    }
    return json as T;
  }

  createGroup(title: string, members: string[], key?: string) {
    return this.call<{ conversation: { id: string; members: string[] } }>(
      'POST',
      '/v1/conversations',
      { kind: 'group', title, members },
      key,
    );
  }

  post(conversationId: string, senderId: string, body: string, key?: string) {
    return this.call<{ messageId: string; duplicate: boolean }>(
      'POST',
      `/v1/conversations/${encodeURIComponent(conversationId)}/messages`,
      { senderId, body },
      key,
    );
  }

  /** Events of a type delivered (answered 2xx), signature verified. */
  events<T extends WebhookEventType>(
    type: T,
  ): (ReceivedDelivery & { event: Extract<WebhookEvent, { type: T }> })[] {
    return this.hooks
      .delivered()
      .filter(
        (d): d is ReceivedDelivery & { event: Extract<WebhookEvent, { type: T }> } => d.event.type === type,
      );
  }

  close(): Promise<void> {
    return this.hooks.close();
  }
}
