/**
 * The chat client SDK (`globalchat/client`): works in browsers and on Node (pass `ws`'s
 * `WebSocket` class there). Imports nothing from the server, only the wire protocol it
 * shares with it (src/protocol).
 *
 * ```ts
 * const client = new ChatClient({ urls: ['wss://eu.example.com/ws'], token: fetchToken });
 * client.on('message', (m) => render(m));
 * await client.connect();
 * await client.send('dm:alice:bob', 'hi');
 * ```
 */

export {
  type AttachmentData,
  type DownloadOptions,
  httpBase,
  type UploadOptions,
} from './attachments.ts';
export {
  type BackoffOptions,
  backoffCap,
  backoffDelay,
  DEFAULT_BACKOFF,
  DEFAULT_RESEND_BACKOFF,
} from './backoff.ts';
export { ChatClient, sortById } from './client.ts';
export { Emitter, type Listener } from './emitter.ts';
export { ChatClientError, type ChatClientErrorCode, LocalErrorCode } from './errors.ts';
export { compareIds, directConversationId, isMessageId, LruSet, maxId } from './ids.ts';
export { DEFAULT_DEDUP_CAPACITY } from './inbox.ts';
export { DEFAULT_STATE_CAPACITY, isNewer, MessageStates } from './message-states.ts';
export {
  type ChatClientEvents,
  type ChatClientOptions,
  type ConnectionState,
  type ConversationEvent,
  DEFAULT_FAILOVER_AFTER_UNAVAILABLE,
  DEFAULT_FAILOVER_AFTER_UNAVAILABLE_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type HistoryQuery,
  type ReceiptEvent,
  type SearchRequest,
  type SendOptions,
  type StateChange,
  type SyncedInfo,
  type UpdateMeta,
} from './options.ts';
export type { SentInfo } from './outbox.ts';
export { CloseCode, type WebSocketConstructor, type WebSocketLike } from './socket.ts';
export { type ClientStorage, MemoryClientStorage, type OutboxEntry } from './storage.ts';
export { DEFAULT_THREAD_CAPACITY, ThreadCounts, type ThreadEvent } from './threads.ts';
export { jwtExpiry, type TokenSource } from './token.ts';
export * from './types.ts';
