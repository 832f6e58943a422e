/**
 * Wires the SDK's events (and the tab's visibility) to the store and the page: each event updates
 * the store first, then whatever shows it (the thread panel, the conversation list upkeep), then
 * asks for a render.
 */
import { type ChatClient, LocalErrorCode } from '../../../client/index.ts';
import type { AttachmentFiles } from './attachments.ts';
import type { ConversationUpkeep } from './conversation-upkeep.ts';
import type { ChatStore } from './store.ts';
import type { ThreadView } from './thread.ts';
import type { UiState } from './ui-state.ts';

/** Connection trouble shows in the status line; other errors are worth a toast. */
const CONNECTION_ERRORS = ['disconnected', 'connect_failed', 'timeout', 'closed'];

export interface ClientEventTargets {
  store: ChatStore;
  ui: UiState;
  thread: ThreadView;
  files: AttachmentFiles;
  upkeep: ConversationUpkeep;
  render(): void;
  renderConnection(): void;
  /** The session cannot go on (its token was refused): signs out with the reason. */
  fatal(err: unknown): void;
  toast(text: string): void;
}

export function wireClientEvents(c: ChatClient, t: ClientEventTargets): void {
  const { store, ui, thread, upkeep } = t;
  c.on('state', (change) => {
    ui.conn = change;
    if (change.state === 'reconnecting') ui.retryAt = Date.now() + (change.delayMs ?? 0);
    t.renderConnection();
  });
  // The SDK reads the conversation list after every (re)connect's replay: conversation events
  // and receipts missed while away are only there (unread counts, members, read markers).
  c.on('conversations', (list) => upkeep.applyList(list));
  c.on('message', (m) => {
    // The store first: it notes the root's count the thread panel shows.
    const isNew = store.addMessage(m);
    thread.onMessage(m);
    if (!isNew) return;
    if (m.conversationId === store.activeId) upkeep.markActiveRead();
    // A group this tab has not heard of: its title comes with the list.
    const conv = store.conversation(m.conversationId);
    if (conv.kind === 'group' && conv.title === null) upkeep.scheduleRefresh();
    upkeep.watchPresence();
    t.render();
  });
  c.on('update', (m) => {
    // A deleted message's files leave this tab too (their blob URLs are revoked).
    if (m.state?.deleted) {
      const before = store.messagesOf(m.conversationId).find((x) => x.id === m.id);
      for (const a of before?.attachments ?? []) t.files.forget(a.id);
    }
    store.applyUpdate(m);
    thread.onUpdate(m);
    if (m.state?.deleted && ui.replyingTo?.id === m.id) ui.replyingTo = null;
    t.render();
  });
  c.on('thread', (e) => {
    if (store.applyThread(e.rootId, e.thread)) {
      if (thread.openRoot === e.rootId) thread.render();
      t.render();
    }
  });
  c.on('sent', (info) => {
    const own = store.pendingSent(info.clientMsgId, info.messageId, info.createdAt);
    // The user's own reply joins the thread panel when it shows that thread (the server's
    // threadRoot: the parent may not be loaded here).
    if (own && info.threadRoot) thread.onMessage({ ...own, threadRoot: info.threadRoot });
    ui.stickToBottom = true;
    t.render();
  });
  c.on('conversation', ({ conversation }) => {
    store.upsert(conversation);
    upkeep.watchPresence();
    t.render();
  });
  c.on('receipt', (r) => {
    store.receipt(r.conversationId, r.userId, r.messageId);
    if (r.userId !== store.me) upkeep.saveReceipts();
    t.render();
  });
  c.on('typing', (e) => {
    store.typing(e.conversationId, e.userId, e.expiresAt);
    t.render();
  });
  c.on('presence', (p) => {
    store.setPresence(p.userId, p.status, p.lastSeen);
    t.render();
  });
  c.on('error', (err) => {
    if (err.code === LocalErrorCode.Unauthorized) {
      t.fatal(err);
      return;
    }
    if (CONNECTION_ERRORS.includes(err.code)) return;
    t.toast(err.message);
  });
  document.addEventListener('visibilitychange', () => {
    c.setAway(document.visibilityState === 'hidden').catch(() => {});
    if (document.visibilityState === 'visible') upkeep.markActiveRead();
  });
}
