/**
 * The thread view: a side panel with a root message and its replies (`ChatClient.thread`, a page
 * at a time, older ones on demand), kept live from the messages and updates the app receives,
 * and its own composer, which replies in the thread (to the root). Threads are one level deep:
 * a reply to a reply shows here too, quoting the reply it answers.
 */
import {
  compareIds,
  type ThreadResult,
  type WireMessage,
  type WireReplyQuote,
} from '../../../client/index.ts';
import { h } from '../dom.ts';
import { clock } from './format.ts';
import type { ChatStore } from './store.ts';
import { actionNodes, type MessageActions, quoteNode } from './view.ts';

/** Replies per page. */
const PAGE = 30;

export interface ThreadActions extends MessageActions {
  /** A page of the thread: the newest `limit` replies, or those before `before`. */
  load(conversationId: string, rootId: string, before: string | null, limit: number): Promise<ThreadResult>;
  /** Sends `body` as a reply to `replyTo` in the conversation. */
  send(conversationId: string, body: string, replyTo: string): void;
  toast(text: string): void;
}

export class ThreadView {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly head: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private conversationId: string | null = null;
  private rootId: string | null = null;
  private root: WireMessage | null = null;
  private readonly replies = new Map<string, WireMessage>();
  private hasMore = false;
  /** The reply the thread composer answers (its Reply button); null: the root. */
  private target: WireMessage | null = null;
  /** The bubbles' actions: Reply here answers in this thread's composer. */
  private readonly actions: MessageActions;
  /** Bumped by every open, so a late page of a thread closed since is dropped. */
  private generation = 0;

  constructor(
    private readonly store: ChatStore,
    private readonly a: ThreadActions,
  ) {
    this.actions = {
      ...a,
      reply: (m) => {
        this.target = m;
        this.render();
        this.input.focus();
      },
    };
    this.head = h('header', { class: 'thread-head' });
    this.list = h('div', { class: 'thread-list', id: 'thread-list' });
    this.input = h('textarea', {
      id: 'thread-input',
      rows: 1,
      placeholder: 'Reply in thread',
      'aria-label': 'Reply in thread',
      onkeydown: (e: Event) => {
        const k = e as KeyboardEvent;
        if (k.key === 'Enter' && !k.shiftKey) {
          k.preventDefault();
          this.submit();
        }
      },
    });
    this.el = h(
      'aside',
      { class: 'thread-panel', id: 'thread-panel', hidden: true, 'aria-label': 'Thread' },
      this.head,
      this.list,
      h(
        'form',
        {
          class: 'composer thread-composer',
          onsubmit: (e: Event) => {
            e.preventDefault();
            this.submit();
          },
        },
        this.input,
        h('button', { type: 'submit', class: 'send', id: 'thread-send' }, 'Reply'),
      ),
    );
  }

  get openRoot(): string | null {
    return this.rootId;
  }

  async open(conversationId: string, rootId: string): Promise<void> {
    const generation = ++this.generation;
    this.conversationId = conversationId;
    this.rootId = rootId;
    this.root = this.store.message(conversationId, rootId);
    this.replies.clear();
    this.hasMore = false;
    this.target = null;
    this.el.hidden = false;
    // The chat grid makes room for the panel (a third column; on a phone, instead of the pane).
    this.el.parentElement?.classList.add('has-thread');
    this.render();
    this.input.focus();
    await this.page(null, generation);
  }

  close(): void {
    this.generation++;
    this.conversationId = null;
    this.rootId = null;
    this.root = null;
    this.replies.clear();
    this.el.hidden = true;
    this.el.parentElement?.classList.remove('has-thread');
  }

  /** A message the app received: a reply of the open thread joins it. */
  onMessage(m: WireMessage): void {
    if (this.rootId === null || m.threadRoot !== this.rootId) return;
    this.replies.set(m.id, m);
    this.render();
  }

  /** An update the app received: the root or a reply changes; a deleted one's quotes go blank. */
  onUpdate(m: WireMessage): void {
    if (this.rootId === null) return;
    if (m.id === this.rootId) this.root = m;
    if (this.replies.has(m.id)) this.replies.set(m.id, m);
    if (m.state?.deleted) {
      for (const [id, r] of this.replies) {
        if (r.replyTo?.id !== m.id) continue;
        const replyTo: WireReplyQuote = { ...r.replyTo, preview: '', deleted: true };
        this.replies.set(id, { ...r, replyTo });
      }
    }
    this.render();
  }

  private async page(before: string | null, generation: number): Promise<void> {
    const { conversationId, rootId } = this;
    if (conversationId === null || rootId === null) return;
    try {
      const result = await this.a.load(conversationId, rootId, before, PAGE);
      if (generation !== this.generation) return;
      this.root = result.root;
      for (const m of result.messages) this.replies.set(m.id, m);
      this.hasMore = result.hasMore;
    } catch (err) {
      if (generation === this.generation)
        this.a.toast(`Could not load the thread: ${(err as Error).message}`);
    }
    this.render();
  }

  private submit(): void {
    const body = this.input.value;
    if (body.trim() === '' || this.conversationId === null || this.rootId === null) return;
    this.input.value = '';
    this.a.send(this.conversationId, body, this.target?.id ?? this.rootId);
    this.target = null;
    this.render();
  }

  render(): void {
    if (this.rootId === null) return;
    const count = this.store.threadOf(this.rootId)?.replyCount ?? this.replies.size;
    this.head.replaceChildren(
      h('div', { class: 'title' }, 'Thread'),
      h('div', { class: 'subtitle', id: 'thread-count' }, `${count} ${count === 1 ? 'reply' : 'replies'}`),
      h(
        'button',
        {
          class: 'icon-btn',
          type: 'button',
          id: 'thread-close',
          'aria-label': 'Close the thread',
          onclick: () => this.close(),
        },
        '×',
      ),
    );
    const replies = [...this.replies.values()].sort((x, y) => compareIds(x.id, y.id));
    const oldest = replies[0]?.id ?? null;
    const nodes: HTMLElement[] = [
      this.root ? this.bubble(this.root, 'thread-root') : h('div', { class: 'history-start' }, 'Loading…'),
    ];
    if (this.hasMore) {
      nodes.push(
        h(
          'button',
          { class: 'older', type: 'button', onclick: () => void this.page(oldest, this.generation) },
          'Load earlier replies',
        ),
      );
    }
    this.list.replaceChildren(...nodes, ...replies.map((m) => this.bubble(m, 'thread-reply')));
    this.input.placeholder = this.target ? `Reply to ${this.target.senderId}` : 'Reply in thread';
    this.list.scrollTop = this.list.scrollHeight;
  }

  private bubble(m: WireMessage, kind: string): HTMLElement {
    const mine = m.senderId === this.store.me;
    return h(
      'div',
      {
        class: `msg ${kind} ${mine ? 'mine' : 'theirs'} run-start`,
        'data-id': m.id,
        'data-sender': m.senderId,
      },
      mine ? null : h('div', { class: 'sender' }, m.senderId),
      h(
        'div',
        { class: 'bubble' },
        // In the thread a quote of the root says nothing new: only quotes of other replies show.
        m.replyTo && m.replyTo.id !== this.rootId ? quoteNode(m) : null,
        m.state?.deleted
          ? h('span', { class: 'body deleted' }, 'Message deleted')
          : h('span', { class: 'body' }, m.body),
        h(
          'span',
          { class: 'meta' },
          kind === 'thread-reply' ? actionNodes(this.store, m, this.actions) : null,
          h('time', { datetime: new Date(m.createdAt).toISOString() }, clock(m.createdAt)),
        ),
      ),
      this.actions.reactions?.(m) ?? null,
    );
  }
}
