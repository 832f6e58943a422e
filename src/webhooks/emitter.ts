/**
 * Turns chat events into queued webhook items: one item per endpoint subscribed to the event's
 * type, with an id derived from what happened (`message.created` of message 123 is always the
 * same id), so a retried write (a resend answered `duplicate`, an inbox event applied again)
 * queues the same id and receivers see one event, however often it is delivered.
 */
import { createHash } from 'node:crypto';
import type { WebhookEndpointConfig } from '../config/schema.ts';
import type { Conversation, StoredMessage } from '../storage/types.ts';
import { withoutContent } from './content.ts';
import type {
  WebhookConversation,
  WebhookEvent,
  WebhookEventData,
  WebhookEventType,
  WebhookMessage,
} from './event-types.ts';
import type { WebhookQueue } from './queue.ts';

export class WebhookEmitter {
  private readonly byType = new Map<WebhookEventType, string[]>();

  constructor(
    endpoints: readonly WebhookEndpointConfig[],
    private readonly queue: WebhookQueue,
  ) {
    for (const e of endpoints) {
      for (const type of e.events) this.byType.set(type, [...(this.byType.get(type) ?? []), e.name]);
    }
  }

  /** Whether any endpoint receives `type`: callers skip building (and reading for) the rest. */
  wants(type: WebhookEventType): boolean {
    return this.byType.has(type);
  }

  /**
   * Durably queues the event for every endpoint that receives it. `key` names what happened
   * within its type (e.g. the message id); the event id is derived from both.
   */
  async emit<T extends WebhookEventType>(type: T, key: string, data: WebhookEventData[T]): Promise<void> {
    const endpoints = this.byType.get(type);
    if (!endpoints) return;
    const id = eventId(type, key);
    // Message text is not queued: the dispatcher reads it when it sends (`content.ts`).
    const event = withoutContent({ id, type, createdAt: Date.now(), data } as WebhookEvent);
    await this.queue.enqueue(endpoints.map((endpoint) => ({ id: `${endpoint}.${id}`, endpoint, event })));
  }
}

/** `evt_` and 32 hex digits: fits JetStream message ids and KV keys, and reveals nothing. */
export function eventId(type: WebhookEventType, key: string): string {
  return `evt_${createHash('sha256').update(`${type}:${key}`).digest('hex').slice(0, 32)}`;
}

export function webhookMessage(m: StoredMessage): WebhookMessage {
  return {
    conversationId: m.conversationId,
    messageId: m.messageId.toString(),
    senderId: m.senderId,
    body: m.body,
    createdAt: m.createdAt,
    replyTo: m.replyTo === undefined || m.replyTo === null ? null : m.replyTo.toString(),
    attachments: (m.attachments ?? []).map((a) => a.id),
  };
}

export function webhookConversation(c: Conversation): WebhookConversation {
  return { id: c.id, kind: c.kind, title: c.title, createdBy: c.createdBy, createdAt: c.createdAt };
}
