/**
 * Where the client keeps what must outlive a page reload or an app restart: the newest message id
 * it has seen (to resume with `since`) and the messages it has not yet seen acked (the outbox).
 * Back it with localStorage, IndexedDB, SQLite…; the default keeps everything in memory.
 */

/** One queued send. `clientMsgId` makes a resend after a reconnect idempotent on the server. */
export interface OutboxEntry {
  clientMsgId: string;
  conversationId: string;
  body: string;
  /** When `send` was called (ms since epoch); entries are resent in this order per conversation. */
  queuedAt: number;
  /** Tie-breaker for entries queued within the same millisecond. */
  seq: number;
}

export interface ClientStorage {
  loadLastSeenId(): Promise<string | null>;
  /** Called with ever-newer ids; an implementation may write them lazily. */
  saveLastSeenId(id: string): Promise<void>;
  /** Every entry not yet deleted, in any order (the client sorts by `queuedAt`, `seq`). */
  loadOutbox(): Promise<OutboxEntry[]>;
  putOutbox(entry: OutboxEntry): Promise<void>;
  deleteOutbox(clientMsgId: string): Promise<void>;
}

export class MemoryClientStorage implements ClientStorage {
  private lastSeenId: string | null = null;
  private readonly outbox = new Map<string, OutboxEntry>();

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
