/**
 * Keeps what the sidebar and the receipts rest on current: the conversation list (as the SDK
 * reads it after every (re)connect, and again when a group this tab does not know shows up),
 * presence subscriptions for the users the list shows, the user's read marker in the open
 * conversation, and the read receipts of others kept in localStorage (the protocol has no way to
 * ask for them again).
 */
import { type ChatClient, ChatClientError, type WireConversationSummary } from '../../../client/index.ts';
import type { LocalClientStorage } from './local-storage.ts';
import type { ChatStore } from './store.ts';

/** A list read again this long after an unknown group's first message, so a burst reads it once. */
const REFRESH_DELAY_MS = 300;

export interface UpkeepEvents {
  render(): void;
  toast(text: string): void;
}

export class ConversationUpkeep {
  /** Users whose presence is subscribed (or being subscribed); a failed subscription is retried. */
  private readonly watched = new Set<string>();
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly client: ChatClient,
    private readonly store: ChatStore,
    private readonly storage: LocalClientStorage,
    private readonly on: UpkeepEvents,
  ) {}

  /** A conversation list (after every (re)connect, from the SDK): unread counts are its. */
  applyList(list: WireConversationSummary[]): void {
    this.store.applySummaries(list);
    this.watchPresence();
    this.markActiveRead();
    this.on.render();
  }

  /** Reads the list again shortly (a group this tab has not heard of: its title comes with it). */
  scheduleRefresh(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh();
    }, REFRESH_DELAY_MS);
  }

  /** Subscribes to the presence of the users the list shows that are not watched yet. */
  watchPresence(): void {
    const users = this.store.watchedUsers().filter((u) => !this.watched.has(u));
    if (users.length === 0) return;
    for (const u of users) this.watched.add(u);
    this.client.subscribePresence(users).then(
      (infos) => {
        for (const p of infos) this.store.setPresence(p.userId, p.status, p.lastSeen);
        this.on.render();
      },
      () => {
        for (const u of users) this.watched.delete(u);
      },
    );
  }

  /** Moves the read marker to the newest message of the open conversation, while the tab is seen. */
  markActiveRead(): void {
    const c = this.store.active;
    if (!c?.lastMessage || document.visibilityState !== 'visible') return;
    const id = c.lastMessage.id;
    if (this.store.markRead(c.id, id)) {
      this.client.markRead(c.id, id).catch(() => {
        // Not fatal: the marker moves with the next read, and the badge was cleared locally.
      });
    }
  }

  saveReceipts(): void {
    const out: Record<string, Record<string, string>> = {};
    for (const c of this.store.conversations.values()) {
      if (c.readBy.size > 0) out[c.id] = Object.fromEntries(c.readBy);
    }
    this.storage.saveReceipts(out);
  }

  /** The conversation list from the server, read again when a group this tab does not know shows up. */
  private async refresh(): Promise<void> {
    let list: WireConversationSummary[];
    try {
      list = await this.client.listConversations();
    } catch (err) {
      if (err instanceof ChatClientError && err.code === 'disconnected') return;
      this.on.toast(`Could not load conversations: ${(err as Error).message}`);
      return;
    }
    this.applyList(list);
  }
}
