/**
 * The webhook events and their payloads: what a receiver gets as the JSON body of a POST
 * (docs/operations.md, "Webhooks"). Kept free of server imports so the config schema and the
 * receivers' `verifyWebhook` module can use it.
 */

export const WEBHOOK_EVENT_TYPES = [
  'message.created',
  'message.edited',
  'message.deleted',
  'message.offline',
  'conversation.created',
  'conversation.members_added',
  'conversation.members_removed',
  'user.erased',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A message as webhooks show it (ids as decimal strings, like the wire protocol). */
export interface WebhookMessage {
  conversationId: string;
  messageId: string;
  senderId: string;
  /** Empty for a deleted message. */
  body: string;
  createdAt: number;
  replyTo: string | null;
  attachments: string[];
}

export interface WebhookConversation {
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  createdBy: string;
  createdAt: number;
}

/** Each event type's `data`. */
export interface WebhookEventData {
  'message.created': { message: WebhookMessage };
  'message.edited': { message: WebhookMessage; editedAt: number | null };
  'message.deleted': { conversationId: string; messageId: string; deletedBy: string };
  /** A recipient with no live device anywhere: the hook a push service needs. */
  'message.offline': { userId: string; message: WebhookMessage };
  'conversation.created': { conversation: WebhookConversation; members: string[] };
  'conversation.members_added': { conversation: WebhookConversation; userIds: string[] };
  'conversation.members_removed': { conversation: WebhookConversation; userIds: string[] };
  /**
   * One region finished erasing a user's messages (one event per region): a backend holding
   * copies of them removes its own. The message ids are in the request's report
   * (`GET /api/v1/erasures/{requestId}`), which can be long.
   */
  'user.erased': {
    requestId: string;
    userId: string;
    region: string;
    /** Messages removed in this region, change records included. */
    messages: number;
    attachments: number;
    finishedAt: number;
  };
}

/**
 * One event as POSTed. `id` is the same for every delivery of the event (retries, a replay,
 * a redelivery after a gateway crash): receivers drop repeats by it.
 */
export type WebhookEvent = {
  [T in WebhookEventType]: { id: string; type: T; createdAt: number; data: WebhookEventData[T] };
}[WebhookEventType];
