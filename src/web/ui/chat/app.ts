/**
 * The signed-in chat: one `ChatClient` (reconnect, failover, resume, outbox and dedup are the
 * SDK's), the store, and the DOM. Everything on screen is re-rendered from the store, batched per
 * animation frame.
 */
import {
  ChatClient,
  ChatClientError,
  LocalErrorCode,
  type StateChange,
  type TokenSource,
  type WireConversation,
  type WireConversationSummary,
  type WireMessage,
} from '../../../client/index.ts';
import { $, h } from '../dom.ts';
import { AttachmentFiles } from './attachments.ts';
import { LocalClientStorage } from './local-storage.ts';
import { ReactionsUi } from './reactions.ts';
import { SearchBox } from './search.ts';
import { autosize, buildShell } from './shell.ts';
import { ChatStore, type Conversation, quoteOf } from './store.ts';
import { ThreadView } from './thread.ts';
import {
  avatar,
  conversationRow,
  type MessageActions,
  messageNodes,
  pendingNodes,
  presenceText,
  typingText,
} from './view.ts';

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** History page size: a screenful and a half. */
const PAGE = 40;
/** Search results per page. */
const SEARCH_PAGE = 20;
/** Typing indicators are sent at most this often per conversation (the server coalesces too). */
const TYPING_EVERY_MS = 1500;

export interface ChatAppOptions {
  userId: string;
  urls: string[];
  token: TokenSource;
  root: HTMLElement;
  onSignOut: (reason?: string) => void;
}

export class ChatApp {
  readonly store: ChatStore;
  readonly client: ChatClient;
  private readonly storage: LocalClientStorage;
  private readonly root: HTMLElement;
  private conn: StateChange = {
    state: 'connecting',
    url: null,
    region: null,
    gatewayId: null,
    failures: 0,
  };
  private retryAt = 0;
  private renderQueued = false;
  private stickToBottom = true;
  private loadingOlder = false;
  private typingSentAt = new Map<string, number>();
  private watched = new Set<string>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private toastTimer: ReturnType<typeof setTimeout> | null = null;
  private listRefresh: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly files: AttachmentFiles;
  /** The message the main composer replies to (its Reply button), if any. */
  private replyingTo: WireMessage | null = null;
  private thread!: ThreadView;
  private readonly reactions: ReactionsUi;

  constructor(private readonly opts: ChatAppOptions) {
    this.root = opts.root;
    this.store = new ChatStore(opts.userId);
    this.storage = new LocalClientStorage(opts.userId, {
      put: (entry) => {
        this.store.addPending(entry);
        this.render();
      },
      delete: (clientMsgId) => {
        // A `sent` event follows at once when it was acked; if none did, the server refused it.
        setTimeout(() => {
          if (this.store.pending.get(clientMsgId)?.failed === null) {
            this.store.pendingFailed(clientMsgId, 'refused by the server');
            this.render();
          }
        }, 0);
      },
    });
    for (const [convId, readers] of Object.entries(this.storage.loadReceipts())) {
      for (const [user, id] of Object.entries(readers)) this.store.receipt(convId, user, id);
    }
    for (const entry of this.storage.outboxEntries()) this.store.addPending(entry);
    this.client = new ChatClient({
      urls: opts.urls,
      token: opts.token,
      device: 'web',
      storage: this.storage,
      // A chat tab should come back quickly after a deploy or a network blip.
      backoff: { initialMs: 300, maxMs: 8000 },
    });
    this.files = new AttachmentFiles(this.client, {
      loaded: () => {
        if (!this.closed) this.render();
      },
      failed: (text) => this.toast(text),
    });
    this.reactions = new ReactionsUi(
      opts.userId,
      (m, emoji, add) =>
        (add
          ? this.client.react(m.conversationId, m.id, emoji)
          : this.client.unreact(m.conversationId, m.id, emoji)
        ).catch((err: unknown) => this.toast((err as Error).message)),
      // The picker may be open in the thread panel too, which renders on its own.
      () => {
        this.render();
        if (this.thread.openRoot !== null) this.thread.render();
      },
    );
    this.wire();
    this.mount();
    this.timers.push(setInterval(() => this.tick(), 500));
  }

  start(): void {
    this.client.connect().catch((err: unknown) => this.fatal(err));
  }

  async signOut(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    // The downloaded files go with the session.
    this.files.clear();
    await this.client.close();
  }

  // ---- events from the client --------------------------------------------------------

  private wire(): void {
    const c = this.client;
    c.on('state', (change) => {
      this.conn = change;
      if (change.state === 'reconnecting') this.retryAt = Date.now() + (change.delayMs ?? 0);
      this.renderConnection();
    });
    // The SDK reads the conversation list after every (re)connect's replay: conversation events
    // and receipts missed while away are only there (unread counts, members, read markers).
    c.on('conversations', (list) => this.applyList(list));
    c.on('message', (m) => {
      // The store first: it notes the root's count the thread panel shows.
      const isNew = this.store.addMessage(m);
      this.thread.onMessage(m);
      if (!isNew) return;
      if (m.conversationId === this.store.activeId) this.markActiveRead();
      // A group this tab has not heard of: its title comes with the list.
      const conv = this.store.conversation(m.conversationId);
      if (conv.kind === 'group' && conv.title === null) this.scheduleListRefresh();
      this.watchPresence();
      this.render();
    });
    c.on('update', (m) => {
      // A deleted message's files leave this tab too (their blob URLs are revoked).
      if (m.state?.deleted) {
        const before = this.store.messagesOf(m.conversationId).find((x) => x.id === m.id);
        for (const a of before?.attachments ?? []) this.files.forget(a.id);
      }
      this.store.applyUpdate(m);
      this.thread.onUpdate(m);
      if (m.state?.deleted && this.replyingTo?.id === m.id) this.replyingTo = null;
      this.render();
    });
    c.on('thread', (e) => {
      if (this.store.applyThread(e.rootId, e.thread)) {
        if (this.thread.openRoot === e.rootId) this.thread.render();
        this.render();
      }
    });
    c.on('sent', (info) => {
      const own = this.store.pendingSent(info.clientMsgId, info.messageId, info.createdAt);
      // The user's own reply joins the thread panel when it shows that thread (the server's
      // threadRoot: the parent may not be loaded here).
      if (own && info.threadRoot) this.thread.onMessage({ ...own, threadRoot: info.threadRoot });
      this.stickToBottom = true;
      this.render();
    });
    c.on('conversation', ({ conversation }) => {
      this.store.upsert(conversation);
      this.watchPresence();
      this.render();
    });
    c.on('receipt', (r) => {
      this.store.receipt(r.conversationId, r.userId, r.messageId);
      if (r.userId !== this.store.me) this.saveReceipts();
      this.render();
    });
    c.on('typing', (t) => {
      this.store.typing(t.conversationId, t.userId, t.expiresAt);
      this.render();
    });
    c.on('presence', (p) => {
      this.store.setPresence(p.userId, p.status, p.lastSeen);
      this.render();
    });
    c.on('error', (err) => {
      if (err.code === LocalErrorCode.Unauthorized) {
        this.fatal(err);
        return;
      }
      // Connection trouble shows in the status line; the rest is worth a toast.
      if (['disconnected', 'connect_failed', 'timeout', 'closed'].includes(err.code)) return;
      this.toast(err.message);
    });
    document.addEventListener('visibilitychange', () => {
      this.client.setAway(document.visibilityState === 'hidden').catch(() => {});
      if (document.visibilityState === 'visible') this.markActiveRead();
    });
  }

  /**
   * Reply and threads on any message; edit and delete of the user's own (prompt and confirm: no
   * editor of their own).
   */
  private readonly messageActions: MessageActions = {
    reply: (m) => {
      this.replyingTo = m;
      this.render();
      ($('#composer-input', this.root) as HTMLTextAreaElement).focus();
    },
    openThread: (conversationId, rootId) => void this.thread.open(conversationId, rootId),
    canEdit: (m) => {
      const window = this.client.serverLimits?.editWindowMs;
      return window === undefined || Date.now() - m.createdAt <= window;
    },
    edit: (m) => {
      const body = window.prompt('Edit message', m.body);
      if (body === null || body === m.body || body.trim() === '') return;
      this.client
        .edit(m.conversationId, m.id, body)
        .catch((err: unknown) => this.toast((err as Error).message));
    },
    remove: (m) => {
      if (!window.confirm('Delete this message for everyone?')) return;
      this.client.delete(m.conversationId, m.id).catch((err: unknown) => this.toast((err as Error).message));
    },
    reactions: (m) => this.reactions.node(m),
  };

  /** Asks whom to remove from a group this user moderates; the server checks the roles. */
  private removeMember(conversationId: string): void {
    const userId = window.prompt('Remove which member?')?.trim();
    if (!userId) return;
    this.client
      .removeMembers(conversationId, [userId])
      .then((conv) => {
        this.store.upsert(conv);
        this.render();
      })
      .catch((err: unknown) => this.toast((err as Error).message));
  }

  private fatal(err: unknown): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    void this.signOut().then(() => this.opts.onSignOut(`Signed out: ${message}`));
  }

  /** The conversation list from the server, read again when a group this tab does not know shows up. */
  private async refreshList(): Promise<void> {
    let list: WireConversationSummary[];
    try {
      list = await this.client.listConversations();
    } catch (err) {
      if (err instanceof ChatClientError && err.code === 'disconnected') return;
      this.toast(`Could not load conversations: ${(err as Error).message}`);
      return;
    }
    this.applyList(list);
  }

  /** A conversation list (after every (re)connect, from the SDK): unread counts are its. */
  private applyList(list: WireConversationSummary[]): void {
    this.store.applySummaries(list);
    this.watchPresence();
    this.markActiveRead();
    this.render();
  }

  private scheduleListRefresh(): void {
    if (this.listRefresh) return;
    this.listRefresh = setTimeout(() => {
      this.listRefresh = null;
      void this.refreshList();
    }, 300);
  }

  private watchPresence(): void {
    const users = this.store.watchedUsers().filter((u) => !this.watched.has(u));
    if (users.length === 0) return;
    for (const u of users) this.watched.add(u);
    this.client.subscribePresence(users).then(
      (infos) => {
        for (const p of infos) this.store.setPresence(p.userId, p.status, p.lastSeen);
        this.render();
      },
      () => {
        for (const u of users) this.watched.delete(u);
      },
    );
  }

  private saveReceipts(): void {
    const out: Record<string, Record<string, string>> = {};
    for (const c of this.store.conversations.values()) {
      if (c.readBy.size > 0) out[c.id] = Object.fromEntries(c.readBy);
    }
    this.storage.saveReceipts(out);
  }

  // ---- actions ------------------------------------------------------------------------

  async open(conversationId: string): Promise<void> {
    if (this.store.activeId !== conversationId) {
      this.replyingTo = null;
      this.thread.close();
    }
    this.store.activeId = conversationId;
    this.stickToBottom = true;
    const c = this.store.conversation(conversationId);
    this.render();
    ($('#composer-input', this.root) as HTMLTextAreaElement).focus();
    if (!c.loaded) {
      try {
        const page = await this.client.history(conversationId, { limit: PAGE });
        this.store.addHistory(conversationId, page.messages, page.hasMore, false);
      } catch (err) {
        this.toast(`Could not load messages: ${(err as Error).message}`);
      }
    }
    this.markActiveRead();
    this.render();
  }

  private async loadOlder(): Promise<void> {
    const id = this.store.activeId;
    if (id === null || this.loadingOlder) return;
    const c = this.store.conversation(id);
    const before = this.store.oldestLoadedId(id);
    if (!c.loaded || !c.hasMore || before === null) return;
    this.loadingOlder = true;
    this.render();
    try {
      const page = await this.client.history(id, { before, limit: PAGE });
      this.store.addHistory(id, page.messages, page.hasMore, true);
    } catch (err) {
      this.toast(`Could not load older messages: ${(err as Error).message}`);
    } finally {
      this.loadingOlder = false;
      this.render();
    }
  }

  /** Moves the read marker to the newest message of the open conversation, while the tab is seen. */
  private markActiveRead(): void {
    const c = this.store.active;
    if (!c?.lastMessage || document.visibilityState !== 'visible') return;
    const id = c.lastMessage.id;
    if (this.store.markRead(c.id, id)) {
      this.client.markRead(c.id, id).catch(() => {
        // Not fatal: the marker moves with the next read, and the badge was cleared locally.
      });
    }
  }

  private send(body: string): void {
    const id = this.store.activeId;
    if (id === null || body.trim() === '') return;
    const replyTo = this.replyingTo?.conversationId === id ? this.replyingTo.id : undefined;
    this.replyingTo = null;
    this.sendTo(id, body, replyTo);
  }

  private sendTo(id: string, body: string, replyTo?: string): void {
    this.stickToBottom = true;
    this.typingSentAt.delete(id);
    this.client.send(id, body, replyTo !== undefined ? { replyTo } : {}).catch((err: unknown) => {
      if (err instanceof ChatClientError && err.code === 'closed') return;
      this.toast(`Message not sent: ${(err as Error).message}`);
    });
  }

  /** Uploads a picked file, then sends it to the open conversation with the composer's text. */
  private async attach(file: File): Promise<void> {
    const id = this.store.activeId;
    if (id === null) return;
    const input = $('#composer-input', this.root) as HTMLTextAreaElement;
    const body = input.value.trim() === '' ? '' : input.value;
    input.value = '';
    autosize(input);
    this.stickToBottom = true;
    try {
      const att = await this.client.uploadAttachment(id, file, {
        contentType: file.type || 'application/octet-stream',
        name: file.name,
      });
      this.store.uploaded.set(att.id, att);
      await this.client.send(id, body, { attachments: [att.id] });
    } catch (err) {
      if (err instanceof ChatClientError && err.code === 'closed') return;
      const why =
        err instanceof ChatClientError && err.code === 'too_large'
          ? 'the file is too large'
          : err instanceof ChatClientError && err.code === 'unsupported_type'
            ? 'this kind of file cannot be sent'
            : (err as Error).message;
      this.toast(`${file.name} not sent: ${why}`);
    }
  }

  private typing(): void {
    const id = this.store.activeId;
    if (id === null) return;
    const now = Date.now();
    if (now - (this.typingSentAt.get(id) ?? 0) < TYPING_EVERY_MS) return;
    this.typingSentAt.set(id, now);
    this.client.typing(id).catch(() => {});
  }

  private async startDirect(userId: string): Promise<void> {
    if (!USER_ID.test(userId)) throw new Error('a user id is 1–64 letters, digits, _ or -');
    if (userId === this.store.me) throw new Error('that is you');
    const conv = await this.client.openDirect(userId);
    this.afterCreate(conv);
  }

  private async createGroup(title: string, members: string[]): Promise<void> {
    const bad = members.find((m) => !USER_ID.test(m));
    if (bad !== undefined) throw new Error(`not a user id: ${bad}`);
    if (title.trim() === '') throw new Error('the group needs a title');
    const conv = await this.client.createGroup(title.trim(), members);
    this.afterCreate(conv);
  }

  private afterCreate(conv: WireConversation): void {
    this.store.upsert(conv);
    this.watchPresence();
    this.togglePanel(false);
    void this.open(conv.id);
  }

  // ---- DOM ----------------------------------------------------------------------------

  private mount(): void {
    this.root.replaceChildren(
      buildShell(this.store.me, {
        startDirect: (userId) => this.startDirect(userId),
        createGroup: (title, members) => this.createGroup(title, members),
        submit: () => this.submitComposer(),
        typing: () => this.typing(),
        scrolled: (el) => {
          this.stickToBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          if (el.scrollTop < 80) void this.loadOlder();
        },
        signOut: () => void this.signOut().then(() => this.opts.onSignOut()),
        togglePanel: () => this.togglePanel(),
        attach: (file) => void this.attach(file),
      }),
    );
    const search = new SearchBox({
      search: (query, before) =>
        this.client.search({ query, limit: SEARCH_PAGE, ...(before !== null ? { before } : {}) }),
      titleOf: (id) => this.store.titleOf(this.store.conversation(id)),
      open: (id) => void this.open(id),
    });
    $('#conversations', this.root).before(search.el);
    this.thread = new ThreadView(this.store, {
      ...this.messageActions,
      load: (conversationId, rootId, before, limit) =>
        this.client.thread(conversationId, rootId, { limit, ...(before !== null ? { before } : {}) }),
      send: (conversationId, body, replyTo) => this.sendTo(conversationId, body, replyTo),
      toast: (text) => this.toast(text),
    });
    $('#pane', this.root).after(this.thread.el);
    this.renderConnection();
    this.render();
  }

  private submitComposer(): void {
    const input = $('#composer-input', this.root) as HTMLTextAreaElement;
    const body = input.value;
    if (body.trim() === '') return;
    input.value = '';
    autosize(input);
    this.send(body);
  }

  private togglePanel(show?: boolean): void {
    const panel = $('#new-panel', this.root);
    panel.hidden = show === undefined ? !panel.hidden : !show;
    if (!panel.hidden) panel.querySelector('input')?.focus();
  }

  private toast(text: string): void {
    const el = $('#toast', this.root);
    el.textContent = text;
    el.hidden = false;
    if (this.toastTimer) clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      el.hidden = true;
    }, 5000);
  }

  /** Twice a second: typing indicators expire, the retry countdown and "last seen" move on. */
  private tick(): void {
    this.renderConnection();
    const next = this.store.nextTypingExpiry();
    if (next !== null && next <= Date.now()) this.render();
  }

  private renderConnection(): void {
    const el = this.root.querySelector<HTMLElement>('#conn');
    if (!el) return;
    const { state, region, gatewayId, failures } = this.conn;
    const outbox = this.store.pending.size;
    let text: string;
    if (state === 'connected') text = `Connected${region ? ` · ${region}` : ''}`;
    else if (state === 'reconnecting') {
      const s = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
      text = s > 0 ? `Reconnecting in ${s} s${failures > 1 ? ` (try ${failures})` : ''}` : 'Reconnecting…';
    } else if (state === 'connecting') text = 'Connecting…';
    else text = 'Offline';
    el.dataset.state = state;
    el.title = gatewayId ? `gateway ${gatewayId}` : (this.conn.url ?? '');
    el.replaceChildren(h('span', { class: 'dot' }), text);
    if (outbox > 0) el.append(h('span', { class: 'outbox' }, ` · ${outbox} unsent`));
    const bar = this.root.querySelector<HTMLElement>('#offline-bar');
    if (bar) {
      bar.hidden = state === 'connected';
      bar.textContent =
        state === 'connected'
          ? ''
          : 'Connection lost — reconnecting. Messages you write now are sent as soon as it is back.';
    }
  }

  render(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.renderNow();
    });
  }

  private renderNow(): void {
    const store = this.store;
    const list = $('#conversations', this.root);
    const convs = store.sorted();
    list.replaceChildren(
      ...(convs.length > 0
        ? convs.map((c) => conversationRow(store, c, (id) => void this.open(id)))
        : [h('li', { class: 'conv-empty' }, 'No conversations yet. Start one with +.')]),
    );
    const unread = convs.reduce((n, c) => n + c.unread, 0);
    document.title = unread > 0 ? `(${unread}) globalchat` : 'globalchat';
    this.renderConnection();

    const c = store.active;
    const pane = $('#pane', this.root);
    pane.classList.toggle('has-conversation', c !== null);
    $('.chat', this.root).classList.toggle('in-conversation', c !== null);
    if (!c) return;
    const title = store.titleOf(c);
    const peer = store.peerOf(c);
    const presence = peer ? store.presence.get(peer) : undefined;
    const subtitle =
      c.kind === 'direct'
        ? presenceText(presence)
        : c.members
          ? `${c.members.length} members: ${c.members.map((u) => withRole(store, c, u)).join(', ')}`
          : 'group';
    const moderator = c.kind === 'group' && store.roleOf(c, store.me) !== 'member';
    $('#pane-head', this.root).replaceChildren(
      h(
        'button',
        {
          class: 'icon-btn back',
          type: 'button',
          'aria-label': 'Back to conversations',
          onclick: () => {
            store.activeId = null;
            this.render();
          },
        },
        '‹',
      ),
      avatar(title, presence ?? null),
      h(
        'div',
        { class: 'pane-title' },
        h('div', { class: 'title', id: 'pane-title' }, c.kind === 'group' ? `# ${title}` : title),
        h('div', { class: `subtitle ${presence?.status ?? ''}`, id: 'pane-subtitle' }, subtitle),
      ),
      ...(moderator
        ? [
            h(
              'button',
              {
                class: 'link',
                type: 'button',
                'data-action': 'remove-member',
                onclick: () => this.removeMember(c.id),
              },
              'Remove…',
            ),
          ]
        : []),
    );
    const messages = $('#messages', this.root);
    const fromBottom = messages.scrollHeight - messages.scrollTop;
    const top: HTMLElement[] = [];
    if (c.loaded && c.hasMore) {
      top.push(
        h(
          'button',
          { class: 'older', id: 'load-older', type: 'button', onclick: () => void this.loadOlder() },
          this.loadingOlder ? 'Loading…' : 'Load earlier messages',
        ),
      );
    } else if (c.loaded && store.messagesOf(c.id).length > 0) {
      top.push(h('div', { class: 'history-start' }, 'This is the beginning of the conversation'));
    } else if (!c.loaded) {
      top.push(h('div', { class: 'history-start' }, 'Loading…'));
    }
    messages.replaceChildren(
      ...top,
      ...messageNodes(store, c, this.messageActions, (a) => this.files.node(a)),
      ...pendingNodes(store.pendingOf(c.id), (id) => {
        store.pending.delete(id);
        this.render();
      }),
    );
    if (this.stickToBottom) messages.scrollTop = messages.scrollHeight;
    else messages.scrollTop = messages.scrollHeight - fromBottom;
    const typing = store.typingIn(c.id, Date.now());
    const typingEl = $('#typing', this.root);
    typingEl.replaceChildren(
      ...(typing.length > 0
        ? [h('span', { class: 'typing-dots' }, h('i'), h('i'), h('i')), typingText(typing)]
        : []),
    );
    const replying = this.replyingTo;
    const bar = $('#reply-bar', this.root);
    bar.hidden = replying === null;
    bar.replaceChildren(
      ...(replying
        ? [
            h('span', { class: 'reply-label' }, 'Replying to '),
            h(
              'span',
              { class: 'quote' },
              h('span', { class: 'quote-sender' }, replying.senderId),
              h('span', { class: 'quote-text' }, quoteOf(replying).preview),
            ),
            h(
              'button',
              {
                class: 'icon-btn',
                type: 'button',
                id: 'reply-cancel',
                'aria-label': 'Cancel the reply',
                onclick: () => {
                  this.replyingTo = null;
                  this.render();
                },
              },
              '×',
            ),
          ]
        : []),
    );
    ($('#composer-input', this.root) as HTMLTextAreaElement).placeholder =
      `Message ${c.kind === 'group' ? '#' : ''}${title}`;
  }
}

/** A member's name with their role in a group: "alice (owner)", "bob (admin)", "carol". */
function withRole(store: ChatStore, c: Conversation, userId: string): string {
  const role = store.roleOf(c, userId);
  return role === 'member' ? userId : `${userId} (${role})`;
}
