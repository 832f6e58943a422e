/**
 * Where the client keeps what must outlive a page reload or an app restart: its resume position
 * (an opaque token, sent back as `resume` on connect), the newest message id it has seen (the
 * legacy `since`, for servers without positions) and the messages it has not yet seen acked (the
 * outbox).
 * Back it with localStorage, IndexedDB, SQLite…; the default keeps everything in memory.
 */

/** One queued send. `clientMsgId` makes a resend after a reconnect idempotent on the server. */
export interface OutboxEntry {
  clientMsgId: string;
  conversationId: string;
  body: string;
  /** Attachment ids the message references; absent when none (entries stored before had none). */
  attachments?: string[];
  /** The message it replies to (`send`'s `replyTo`), if any. */
  replyTo?: string;
  /** When `send` was called (ms since epoch); entries are resent in this order per conversation. */
  queuedAt: number;
  /** Tie-breaker for entries queued within the same millisecond. */
  seq: number;
}

export interface ClientStorage {
  /** The resume position saved last (store it verbatim; it is opaque). */
  loadPosition(): Promise<string | null>;
  /** Called with each newer position; an implementation may write them lazily (the latest wins). */
  savePosition(position: string): Promise<void>;
  loadLastSeenId(): Promise<string | null>;
  /** Called with ever-newer ids; an implementation may write them lazily. */
  saveLastSeenId(id: string): Promise<void>;
  /** Every entry not yet deleted, in any order (the client sorts by `queuedAt`, `seq`). */
  loadOutbox(): Promise<OutboxEntry[]>;
  putOutbox(entry: OutboxEntry): Promise<void>;
  deleteOutbox(clientMsgId: string): Promise<void>;
}

export class MemoryClientStorage implements ClientStorage {
  private position: string | null = null;
  private lastSeenId: string | null = null;
  private readonly outbox = new Map<string, OutboxEntry>();

  async loadPosition(): Promise<string | null> {
    return this.position;
  }

  async savePosition(position: string): Promise<void> {
    this.position = position;
  }

  async loadLastSeenId(): Promise<string | null> {
    return this.lastSeenId;
  }

  async saveLastSeenId(id: string): Promise<void> {
    this.lastSeenId = id;
  }

  async loadOutbox(): Promise<OutboxEntry[]> {
    return [...this.outbox.values()].map((e) => ({ ...e }));
  }

  async putOutbox(entry: OutboxEntry): Promise<void> {
    this.outbox.set(entry.clientMsgId, { ...entry });
  }

  async deleteOutbox(clientMsgId: string): Promise<void> {
    this.outbox.delete(clientMsgId);
  }
}
