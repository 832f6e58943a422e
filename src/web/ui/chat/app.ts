/**
 * The signed-in chat: one `ChatClient` (reconnect, failover, resume, outbox and dedup are the
 * SDK's), the store, and the DOM. Everything on screen is re-rendered from the store, batched per
 * animation frame. `ChatApp` is the coordinator: it owns the client, the store and the UI state,
 * builds the parts (client-events.ts, conversation-upkeep.ts, composer.ts, render.ts, ...) and
 * handles what spans them: opening and paging conversations, signing out.
 */
import { ChatClient, type TokenSource, type WireConversation } from '../../../client/index.ts';
import { $ } from '../dom.ts';
import { AttachmentFiles } from './attachments.ts';
import { wireClientEvents } from './client-events.ts';
import { Composer } from './composer.ts';
import { ConversationUpkeep } from './conversation-upkeep.ts';
import { LocalClientStorage } from './local-storage.ts';
import { type ActionDeps, messageActions, removeMember } from './message-actions.ts';
import { createGroup, startDirect, togglePanel } from './new-conversation.ts';
import { ReactionsUi } from './reactions.ts';
import { ChatRenderer } from './render.ts';
import { SearchBox } from './search.ts';
import { buildShell } from './shell.ts';
import { ChatStore } from './store.ts';
import { ThreadView } from './thread.ts';
import { Toast } from './toast.ts';
import { initialUiState, type UiState } from './ui-state.ts';
import type { MessageActions } from './view.ts';

/** History page size: a screenful and a half. */
const PAGE = 40;
/** Search results per page. */
const SEARCH_PAGE = 20;

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
  private readonly ui: UiState = initialUiState();
  private timers: ReturnType<typeof setInterval>[] = [];
  private closed = false;
  private readonly toaster: Toast;
  private readonly files: AttachmentFiles;
  private readonly reactions: ReactionsUi;
  private readonly upkeep: ConversationUpkeep;
  private readonly composer: Composer;
  private readonly actionDeps: ActionDeps;
  private readonly messageActions: MessageActions;
  private readonly thread: ThreadView;
  private readonly renderer: ChatRenderer;

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
    const toast = (text: string) => this.toaster.show(text);
    const render = () => this.render();
    this.toaster = new Toast(this.root);
    this.files = new AttachmentFiles(this.client, {
      loaded: () => {
        if (!this.closed) this.render();
      },
      failed: toast,
    });
    this.reactions = new ReactionsUi(
      opts.userId,
      (m, emoji, add) =>
        (add
          ? this.client.react(m.conversationId, m.id, emoji)
          : this.client.unreact(m.conversationId, m.id, emoji)
        ).catch((err: unknown) => toast((err as Error).message)),
      // The picker may be open in the thread panel too, which renders on its own.
      () => {
        this.render();
        if (this.thread.openRoot !== null) this.thread.render();
      },
    );
    this.upkeep = new ConversationUpkeep(this.client, this.store, this.storage, { render, toast });
    this.composer = new Composer(this.root, this.client, this.store, this.ui, toast);
    this.actionDeps = {
      client: this.client,
      store: this.store,
      ui: this.ui,
      reactions: this.reactions,
      openThread: (conversationId, rootId) => void this.thread.open(conversationId, rootId),
      focusComposer: () => this.composer.focus(),
      render,
      toast,
    };
    this.messageActions = messageActions(this.actionDeps);
    this.thread = new ThreadView(this.store, {
      ...this.messageActions,
      load: (conversationId, rootId, before, limit) =>
        this.client.thread(conversationId, rootId, { limit, ...(before !== null ? { before } : {}) }),
      send: (conversationId, body, replyTo) => this.composer.sendTo(conversationId, body, replyTo),
      toast,
    });
    this.renderer = new ChatRenderer(this.root, this.store, this.ui, this.messageActions, {
      open: (id) => void this.open(id),
      loadOlder: () => void this.loadOlder(),
      removeMember: (id) => removeMember(this.actionDeps, id),
      file: (a) => this.files.node(a),
    });
    wireClientEvents(this.client, {
      store: this.store,
      ui: this.ui,
      thread: this.thread,
      files: this.files,
      upkeep: this.upkeep,
      render,
      renderConnection: () => this.renderer.renderConnection(),
      fatal: (err) => this.fatal(err),
      toast,
    });
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

  /** Re-renders the page at the next animation frame (render.ts). */
  render(): void {
    this.renderer.render();
  }

  async open(conversationId: string): Promise<void> {
    if (this.store.activeId !== conversationId) {
      this.ui.replyingTo = null;
      this.thread.close();
    }
    this.store.activeId = conversationId;
    this.ui.stickToBottom = true;
    const c = this.store.conversation(conversationId);
    this.render();
    this.composer.focus();
    if (!c.loaded) {
      try {
        const page = await this.client.history(conversationId, { limit: PAGE });
        this.store.addHistory(conversationId, page.messages, page.hasMore, false);
      } catch (err) {
        this.toaster.show(`Could not load messages: ${(err as Error).message}`);
      }
    }
    this.upkeep.markActiveRead();
    this.render();
  }

  private async loadOlder(): Promise<void> {
    const id = this.store.activeId;
    if (id === null || this.ui.loadingOlder) return;
    const c = this.store.conversation(id);
    const before = this.store.oldestLoadedId(id);
    if (!c.loaded || !c.hasMore || before === null) return;
    this.ui.loadingOlder = true;
    this.render();
    try {
      const page = await this.client.history(id, { before, limit: PAGE });
      this.store.addHistory(id, page.messages, page.hasMore, true);
    } catch (err) {
      this.toaster.show(`Could not load older messages: ${(err as Error).message}`);
    } finally {
      this.ui.loadingOlder = false;
      this.render();
    }
  }

  private fatal(err: unknown): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    void this.signOut().then(() => this.opts.onSignOut(`Signed out: ${message}`));
  }

  private afterCreate(conv: WireConversation): void {
    this.store.upsert(conv);
    this.upkeep.watchPresence();
    togglePanel(this.root, false);
    void this.open(conv.id);
  }

  /** Builds the page: the shell, then the search box and the thread panel in their places. */
  private mount(): void {
    this.root.replaceChildren(
      buildShell(this.store.me, {
        startDirect: async (userId) =>
          this.afterCreate(await startDirect(this.client, this.store.me, userId)),
        createGroup: async (title, members) =>
          this.afterCreate(await createGroup(this.client, title, members)),
        submit: () => this.composer.submit(),
        typing: () => this.composer.typing(),
        scrolled: (el) => {
          this.ui.stickToBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          if (el.scrollTop < 80) void this.loadOlder();
        },
        signOut: () => void this.signOut().then(() => this.opts.onSignOut()),
        togglePanel: () => togglePanel(this.root),
        attach: (file) => void this.composer.attach(file),
      }),
    );
    const search = new SearchBox({
      search: (query, before) =>
        this.client.search({ query, limit: SEARCH_PAGE, ...(before !== null ? { before } : {}) }),
      titleOf: (id) => this.store.titleOf(this.store.conversation(id)),
      open: (id) => void this.open(id),
    });
    $('#conversations', this.root).before(search.el);
    $('#pane', this.root).after(this.thread.el);
    this.renderer.renderConnection();
    this.render();
  }

  /** Twice a second: typing indicators expire, the retry countdown and "last seen" move on. */
  private tick(): void {
    this.renderer.renderConnection();
    const next = this.store.nextTypingExpiry();
    if (next !== null && next <= Date.now()) this.render();
  }
}
