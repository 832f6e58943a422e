/**
 * Draws the signed-in page from the store and the UI state: the conversation list, the open
 * conversation (header, messages, typing line, reply bar) and the connection status line. Full
 * renders are batched per animation frame, since events come in bursts (a reconnect's replay);
 * the status line is also drawn on its own, as its retry countdown moves without any event.
 */
import type { WireAttachment } from '../../../client/index.ts';
import { $, h } from '../dom.ts';
import { type ChatStore, type Conversation, quoteOf } from './store.ts';
import type { UiState } from './ui-state.ts';
import {
  avatar,
  conversationRow,
  type MessageActions,
  messageNodes,
  pendingNodes,
  presenceText,
  typingText,
} from './view.ts';

/** What the rendered controls do beyond the message actions. */
export interface RenderActions {
  open(conversationId: string): void;
  loadOlder(): void;
  removeMember(conversationId: string): void;
  /** An attached file in a bubble (attachments.ts). */
  file(a: WireAttachment): HTMLElement;
}

export class ChatRenderer {
  private queued = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly store: ChatStore,
    private readonly ui: UiState,
    private readonly messageActions: MessageActions,
    private readonly a: RenderActions,
  ) {}

  /** Renders at the next animation frame; any number of calls before it make one render. */
  render(): void {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.renderNow();
    });
  }

  /** The status line (state, region, retry countdown, unsent count) and the offline bar. */
  renderConnection(): void {
    const el = this.root.querySelector<HTMLElement>('#conn');
    if (!el) return;
    const { state, region, gatewayId, failures } = this.ui.conn;
    const outbox = this.store.pending.size;
    let text: string;
    if (state === 'connected') text = `Connected${region ? ` · ${region}` : ''}`;
    else if (state === 'reconnecting') {
      const s = Math.max(0, Math.ceil((this.ui.retryAt - Date.now()) / 1000));
      text = s > 0 ? `Reconnecting in ${s} s${failures > 1 ? ` (try ${failures})` : ''}` : 'Reconnecting…';
    } else if (state === 'connecting') text = 'Connecting…';
    else text = 'Offline';
    el.dataset.state = state;
    el.title = gatewayId ? `gateway ${gatewayId}` : (this.ui.conn.url ?? '');
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

  private renderNow(): void {
    const store = this.store;
    const list = $('#conversations', this.root);
    const convs = store.sorted();
    list.replaceChildren(
      ...(convs.length > 0
        ? convs.map((c) => conversationRow(store, c, (id) => this.a.open(id)))
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
    this.renderHead(c, title);
    this.renderMessages(c);
    this.renderTyping(c);
    this.renderReplyBar();
    ($('#composer-input', this.root) as HTMLTextAreaElement).placeholder =
      `Message ${c.kind === 'group' ? '#' : ''}${title}`;
  }

  /** The open conversation's header: back button, avatar, title, presence or members. */
  private renderHead(c: Conversation, title: string): void {
    const store = this.store;
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
                onclick: () => this.a.removeMember(c.id),
              },
              'Remove…',
            ),
          ]
        : []),
    );
  }

  /**
   * The message list, then its scroll position: at the end while sticking to the bottom, else
   * the same distance from the end as before (older messages added on top do not move the view).
   */
  private renderMessages(c: Conversation): void {
    const store = this.store;
    const messages = $('#messages', this.root);
    const fromBottom = messages.scrollHeight - messages.scrollTop;
    const top: HTMLElement[] = [];
    if (c.loaded && c.hasMore) {
      top.push(
        h(
          'button',
          { class: 'older', id: 'load-older', type: 'button', onclick: () => this.a.loadOlder() },
          this.ui.loadingOlder ? 'Loading…' : 'Load earlier messages',
        ),
      );
    } else if (c.loaded && store.messagesOf(c.id).length > 0) {
      top.push(h('div', { class: 'history-start' }, 'This is the beginning of the conversation'));
    } else if (!c.loaded) {
      top.push(h('div', { class: 'history-start' }, 'Loading…'));
    }
    messages.replaceChildren(
      ...top,
      ...messageNodes(store, c, this.messageActions, (a) => this.a.file(a)),
      ...pendingNodes(store.pendingOf(c.id), (id) => {
        store.pending.delete(id);
        this.render();
      }),
    );
    if (this.ui.stickToBottom) messages.scrollTop = messages.scrollHeight;
    else messages.scrollTop = messages.scrollHeight - fromBottom;
  }

  private renderTyping(c: Conversation): void {
    const typing = this.store.typingIn(c.id, Date.now());
    $('#typing', this.root).replaceChildren(
      ...(typing.length > 0
        ? [h('span', { class: 'typing-dots' }, h('i'), h('i'), h('i')), typingText(typing)]
        : []),
    );
  }

  /** The bar above the composer quoting the message it replies to, with a cancel button. */
  private renderReplyBar(): void {
    const replying = this.ui.replyingTo;
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
                  this.ui.replyingTo = null;
                  this.render();
                },
              },
              '×',
            ),
          ]
        : []),
    );
  }
}

/** A member's name with their role in a group: "alice (owner)", "bob (admin)", "carol". */
function withRole(store: ChatStore, c: Conversation, userId: string): string {
  const role = store.roleOf(c, userId);
  return role === 'member' ? userId : `${userId} (${role})`;
}
