import { CloseCode as ProtocolCloseCode } from '../protocol/index.ts';

/**
 * The slice of the WHATWG `WebSocket` the client uses. Browsers' `WebSocket` and the `ws`
 * package's class (Node) both fit; tests pass a fake.
 */

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  /**
   * Browsers say nothing about why a connection failed. `ws` puts it in the event's `message`
   * ("Unexpected server response: 401"), which is how the client spots a refused token there.
   */
  addEventListener(type: 'error', listener: (event: { message?: unknown }) => void): void;
  addEventListener(type: 'open', listener: (event: unknown) => void): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `WebSocket.OPEN`; the constant is the same everywhere. */
export const OPEN = 1;

/**
 * Close codes the gateway sends (from src/protocol, docs/protocol.md "Close codes"), plus the
 * ones only a client sees or uses.
 */
export const CloseCode = {
  ...ProtocolCloseCode,
  Normal: 1000,
  /** Reported by the WebSocket API when the connection ended without a close frame. */
  NoCloseFrame: 1006,
  /** Used by the client when it gives up on a socket that stopped answering. */
  ClientTimeout: 4000,
} as const;

/** True when a failed handshake's error event says the server answered HTTP 401. */
export function isUnauthorizedHandshake(event: { message?: unknown }): boolean {
  return typeof event.message === 'string' && /\b401\b/.test(event.message);
}
