/** A client connection as the chat core sees it, whatever the transport (raw WebSocket, Socket.IO). */
import type { ServerFrame } from './protocol.ts';

export interface ClientConnection {
  readonly connectionId: string;
  readonly userId: string;
  readonly device: string;
  /** True once the transport closed; sends are then dropped. */
  readonly closed: boolean;
  /** Sends an already-serialized server frame. */
  sendRaw(payload: string): void;
  /** Bytes queued in the transport, for backpressure. */
  bufferedAmount(): number;
  /** Resolves when the transport's buffer drained below its low-water mark (or it closed). */
  waitForDrain(): Promise<void>;
  close(code: number, reason: string): void;
}

/** JSON with bigints as decimal strings (message ids). */
export function serialize(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * Per-connection state the hub keeps: replay buffering while a resume is in progress, and the
 * offline-queue entries delivered to it that await the client's ack.
 */
export class ConnectionState {
  syncing = false;
  /** Live payloads received while replaying; flushed (minus replayed ids) when the replay ends. */
  buffered: { messageId: string | null; payload: string }[] = [];
  /** Ids delivered from the offline queue, removed from the queue when acked. */
  readonly pendingQueueAcks = new Set<bigint>();
  constructor(readonly conn: ClientConnection) {}
}
