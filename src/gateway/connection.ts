/** A client connection as the chat core sees it, whatever the transport (raw WebSocket, Socket.IO). */
import type { ServerFrame } from '../protocol/index.ts';
import type { Routed } from '../routing/types.ts';

export interface ClientConnection {
  readonly connectionId: string;
  readonly userId: string;
  readonly device: string;
  /** True once the transport closed; sends are then dropped. */
  readonly closed: boolean;
  /** Sends an already-serialized server frame (presence events). */
  sendRaw(payload: string): void;
  /**
   * Sends a frame the hub or the router carries. One `Routed` goes to every recipient, so a
   * transport that needs the frame as an object (Socket.IO) can parse it once for all of them.
   */
  sendRouted(routed: Routed): void;
  /** Sends a server frame built here (replies, replay); the transport serializes it its own way. */
  sendFrame(frame: ServerFrame): void;
  /** Bytes queued in the transport, for backpressure. */
  bufferedAmount(): number;
  /**
   * A replay begins: a transport that delivers live frames through its own pub/sub
   * (`LocalTopics`) stops, so that they come through the hub and are held back.
   */
  leaveTopics?(): void;
  /** Resolves when the transport's buffer drained below its low-water mark (or it closed). */
  waitForDrain(): Promise<void>;
  close(code: number, reason: string): void;
}

/** JSON with bigints as decimal strings (message ids). */
export function serialize(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * Per-connection state the gateway keeps: replay buffering while a resume is in progress, the
 * offline-queue entries delivered to it that await the client's ack, its presence subscriptions
 * and when it last announced typing in each conversation. Collections are created on first use:
 * most connections never need most of them, and an idle connection's memory is mostly this.
 */
export class ConnectionState {
  /**
   * True from registration until the first replay ends: a connection always starts with a replay,
   * and live deliveries that arrive before it begins must be held back like those during it.
   */
  syncing = true;
  /** Live frames received while replaying; flushed (minus replayed ids) when the replay ends. */
  buffered: Routed[] | null = null;
  /**
   * Ids the last replay sent, kept for a short while after it: a message stored just before the
   * replay read the store can reach us live just after it ended, and need not be sent twice.
   */
  recentlyReplayed: Set<string> | null = null;
  /** Ids delivered from the offline queue, removed from the queue when acked. */
  pendingQueueAcks: Set<bigint> | null = null;
  /** Users whose presence changes this connection receives (see `PresenceWatchers`). */
  watching: Set<string> | null = null;
  /** While > 0, presence events for this connection are held back (a snapshot is being read). */
  presenceHolds = 0;
  presenceHeld: string[] | null = null;
  /** conversationId → when this connection last had a `typing` event fanned out (ms). */
  typingAt: Map<string, number> | null = null;
  constructor(readonly conn: ClientConnection) {}

  /** A replay begins: live deliveries are held back from here until it ends (see `syncing`). */
  beginSync(): void {
    this.syncing = true;
    this.conn.leaveTopics?.();
  }

  /** Holds a live frame back until the replay in progress ends. */
  holdLive(routed: Routed): void {
    if (this.buffered === null) this.buffered = [];
    this.buffered.push(routed);
  }

  /** Remembers an offline-queue entry sent to this connection, to be removed when acked. */
  expectAck(messageId: bigint): void {
    if (this.pendingQueueAcks === null) this.pendingQueueAcks = new Set();
    this.pendingQueueAcks.add(messageId);
  }

  /** The users this connection watches, created on first use. */
  watchedUsers(): Set<string> {
    if (this.watching === null) this.watching = new Set();
    return this.watching;
  }

  /** Holds a presence event back while a snapshot is being read. */
  holdPresence(payload: string): void {
    if (this.presenceHeld === null) this.presenceHeld = [];
    this.presenceHeld.push(payload);
  }

  /** conversationId → last typing fan-out time, created on first use. */
  typingTimes(): Map<string, number> {
    if (this.typingAt === null) this.typingAt = new Map();
    return this.typingAt;
  }
}
