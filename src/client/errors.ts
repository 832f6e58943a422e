/** The one error class the SDK throws or rejects with; switch on `code`, not on the message. */
import { ErrorCode, type ServerErrorCode } from './types.ts';

/** Codes the client produces itself, never sent by a server. */
export const LocalErrorCode = {
  /** No reply within `requestTimeoutMs`. */
  Timeout: 'timeout',
  /** The socket dropped while the request was in flight; it was not retried (it may have run). */
  Disconnected: 'disconnected',
  /** `close()` was called. Queued sends stay in the outbox (and its storage). */
  Closed: 'closed',
  /** The server refused the token (HTTP 401 or close 4401) and there is no way to get a new one. */
  Unauthorized: ErrorCode.Unauthorized,
  /** The token function threw or returned nothing; the client retries with backoff. */
  TokenFailed: 'token_failed',
  /** The WebSocket could not even be created (bad URL); the client tries the next one. */
  ConnectFailed: 'connect_failed',
  /** The server sent something this client cannot read. */
  Protocol: 'protocol',
  /** The client's storage failed. */
  Storage: 'storage',
} as const;
export type LocalErrorCode = (typeof LocalErrorCode)[keyof typeof LocalErrorCode];

/** Server codes are open-ended (`string & {}`) so a newer server's codes still type-check. */
export type ChatClientErrorCode = ServerErrorCode | LocalErrorCode | (string & {});

export class ChatClientError extends Error {
  override readonly name = 'ChatClientError';
  constructor(
    readonly code: ChatClientErrorCode,
    message: string,
    /** From the server's `error` frame, when there was one. */
    readonly details?: Readonly<Record<string, string | number>>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
