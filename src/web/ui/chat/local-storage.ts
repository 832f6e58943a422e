/**
 * The SDK's `ClientStorage` on the browser's localStorage, one set of keys per user: the resume
 * position and the newest message id seen (so a reloaded page resumes where it was) and the outbox (so a message typed
 * while offline survives a reload and is sent, once, when the page is back). The app also keeps
 * the read receipts it has seen here, since the protocol has no way to ask for them again.
 */
import type { ClientStorage, OutboxEntry } from '../../../client/index.ts';

const PREFIX = 'globalchat';

export interface OutboxListener {
  put(entry: OutboxEntry): void;
  delete(clientMsgId: string): void;
}

export class LocalClientStorage implements ClientStorage {
  constructor(
    private readonly userId: string,
    private readonly listener: OutboxListener,
    private readonly store: Storage = localStorage,
  ) {}

  private key(...parts: string[]): string {
    return [PREFIX, this.userId, ...parts].join(':');
  }

  async loadPosition(): Promise<string | null> {
    return this.store.getItem(this.key('position'));
  }

  async savePosition(position: string): Promise<void> {
    this.store.setItem(this.key('position'), position);
  }

  async loadLastSeenId(): Promise<string | null> {
    return this.store.getItem(this.key('lastSeen'));
  }

  async saveLastSeenId(id: string): Promise<void> {
    this.store.setItem(this.key('lastSeen'), id);
  }

  async loadOutbox(): Promise<OutboxEntry[]> {
    return this.outboxEntries();
  }

  /** The outbox as stored, read synchronously (to show unsent messages before connecting). */
  outboxEntries(): OutboxEntry[] {
    const prefix = this.key('outbox', '');
    const out: OutboxEntry[] = [];
    for (let i = 0; i < this.store.length; i++) {
      const k = this.store.key(i);
      if (k === null || !k.startsWith(prefix)) continue;
      try {
        out.push(JSON.parse(this.store.getItem(k) ?? '') as OutboxEntry);
      } catch {
        this.store.removeItem(k);
      }
    }
    return out;
  }

  async putOutbox(entry: OutboxEntry): Promise<void> {
    this.store.setItem(this.key('outbox', entry.clientMsgId), JSON.stringify(entry));
    this.listener.put(entry);
  }

  async deleteOutbox(clientMsgId: string): Promise<void> {
    this.store.removeItem(this.key('outbox', clientMsgId));
    this.listener.delete(clientMsgId);
  }

  /** Other members' read markers seen so far: conversationId → userId → messageId. */
  loadReceipts(): Record<string, Record<string, string>> {
    try {
      const raw = JSON.parse(this.store.getItem(this.key('receipts')) ?? '{}') as unknown;
      return typeof raw === 'object' && raw !== null ? (raw as Record<string, Record<string, string>>) : {};
    } catch {
      return {};
    }
  }

  saveReceipts(receipts: Record<string, Record<string, string>>): void {
    this.store.setItem(this.key('receipts'), JSON.stringify(receipts));
  }
}

/** Which user this tab is signed in as (per tab), and the last one signed in (per browser). */
export const session = {
  get(): { userId: string; jwt: string | null } | null {
    const userId = sessionStorage.getItem(`${PREFIX}:user`);
    return userId === null ? null : { userId, jwt: sessionStorage.getItem(`${PREFIX}:jwt`) };
  },
  /** A pasted JWT stays in this tab only (sessionStorage), never in localStorage. */
  set(userId: string, jwt: string | null): void {
    sessionStorage.setItem(`${PREFIX}:user`, userId);
    if (jwt === null) sessionStorage.removeItem(`${PREFIX}:jwt`);
    else sessionStorage.setItem(`${PREFIX}:jwt`, jwt);
    localStorage.setItem(`${PREFIX}:lastUser`, userId);
  },
  clear(): void {
    sessionStorage.removeItem(`${PREFIX}:user`);
    sessionStorage.removeItem(`${PREFIX}:jwt`);
  },
  lastUser(): string | null {
    return localStorage.getItem(`${PREFIX}:lastUser`);
  },
};
