/**
 * Message content stays out of the webhook queue. An event that carries a message
 * (`message.created`, `message.edited`, `message.offline`) is queued with its body and
 * attachments left empty (`withoutContent`), and each POST reads them from the region's store
 * just before sending (`withContent`). So a message deleted, erased or expired before its event
 * is delivered (queued, retried, or in the dead letters) goes out with an empty body and no
 * attachments, and no copy of its text is left at rest in the queue, however long the event
 * waits there. The cost is one store read per POST of such an event; the receiver gets the
 * message as it is when the event is sent (a later edit's body included).
 */
import type { Storage, StoredMessage } from '../storage/types.ts';
import type { WebhookEvent, WebhookMessage } from './event-types.ts';

/** Reads a message as it is now (the gateway's store, `getMessage`); null when it is gone. */
export type MessageLookup = (conversationId: string, messageId: string) => Promise<StoredMessage | null>;

export function lookupIn(storage: Storage): MessageLookup {
  return (conversationId, messageId) => storage.getMessage(conversationId, BigInt(messageId));
}

const carriesMessage = (
  event: WebhookEvent,
): event is Extract<WebhookEvent, { type: 'message.created' | 'message.edited' | 'message.offline' }> =>
  event.type === 'message.created' || event.type === 'message.edited' || event.type === 'message.offline';

const withMessage = (event: WebhookEvent, message: WebhookMessage): WebhookEvent =>
  ({ ...event, data: { ...event.data, message } }) as WebhookEvent;

/** The event as queued: a carried message's body and attachments left out. */
export function withoutContent(event: WebhookEvent): WebhookEvent {
  if (!carriesMessage(event)) return event;
  return withMessage(event, { ...event.data.message, body: '', attachments: [] });
}

/** The event as sent: a carried message's body and attachments as the store holds them now. */
export async function withContent(event: WebhookEvent, lookup: MessageLookup): Promise<WebhookEvent> {
  if (!carriesMessage(event)) return event;
  const m = event.data.message;
  const now = await lookup(m.conversationId, m.messageId);
  const live = now !== null && now.state?.deleted !== true;
  return withMessage(event, {
    ...m,
    body: live ? now.body : '',
    attachments: live ? (now.attachments ?? []).map((a) => a.id) : [],
  });
}
