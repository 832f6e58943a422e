/**
 * A message deleted after its event was queued is not sent by a webhook afterwards: just before
 * each POST, an event that carries a message (`message.created`, `message.edited`,
 * `message.offline`) is checked against the store, and a deleted one goes out with an empty body
 * and no attachments (same event id; the receiver also gets `message.deleted`). Covers retries
 * and replayed dead letters. The queued copy itself is removed when the item is settled.
 */
import type { Storage } from '../storage/types.ts';
import type { WebhookEvent } from './event-types.ts';

/** Looks up whether a message is deleted (the gateway's store, `getMessage`). */
export type DeletedLookup = (conversationId: string, messageId: string) => Promise<boolean>;

export function deletedIn(storage: Storage): DeletedLookup {
  return async (conversationId, messageId) =>
    (await storage.getMessage(conversationId, BigInt(messageId)))?.state?.deleted === true;
}

export async function redactDeleted(event: WebhookEvent, isDeleted: DeletedLookup): Promise<WebhookEvent> {
  if (event.type !== 'message.created' && event.type !== 'message.edited' && event.type !== 'message.offline')
    return event;
  const m = event.data.message;
  if (!(await isDeleted(m.conversationId, m.messageId))) return event;
  return { ...event, data: { ...event.data, message: { ...m, body: '', attachments: [] } } } as WebhookEvent;
}
