/** Renders pieces of the chat from the store: conversation rows, message bubbles, the header. */
import type { WireAttachment, WireMessage } from '../../../client/index.ts';
import { h } from '../dom.ts';
import { ago, clock, dayLabel, hue, initials, sameDay, shortWhen } from './format.ts';
import type { ChatStore, Conversation, PendingMessage, PresenceView } from './store.ts';

export function avatar(
  name: string,
  presence: PresenceView | null = null,
  size: 'sm' | 'md' = 'md',
): HTMLElement {
  const el = h(
    'span',
    { class: `avatar avatar-${size}`, 'aria-hidden': 'true' },
    initials(name),
    presence ? h('span', { class: `presence-dot ${presence.status}`, title: presence.status }) : null,
  );
  el.style.setProperty('--hue', String(hue(name)));
  return el;
}

export function presenceText(p: PresenceView | undefined): string {
  if (!p) return '';
  if (p.status === 'online') return 'online';
  if (p.status === 'away') return 'away';
  return p.lastSeen ? `last seen ${ago(p.lastSeen)}` : 'offline';
}

export function conversationRow(
  store: ChatStore,
  c: Conversation,
  onOpen: (id: string) => void,
): HTMLElement {
  const title = store.titleOf(c);
  const peer = store.peerOf(c);
  const typing = store.typingIn(c.id, Date.now());
  const pending = store.pendingOf(c.id);
  const last = c.lastMessage;
  let preview: (string | HTMLElement)[];
  if (typing.length > 0) {
    preview = [
      h('span', { class: 'preview-typing' }, typing.length === 1 ? 'typing…' : `${typing.length} typing…`),
    ];
  } else if (pending.length > 0) {
    preview = [h('span', { class: 'preview-pending' }, 'Sending: '), pending[pending.length - 1]!.body];
  } else if (last) {
    const who = last.senderId === store.me ? 'You: ' : c.kind === 'group' ? `${last.senderId}: ` : '';
    preview = [
      who,
      last.state?.deleted
        ? h('span', { class: 'preview-deleted' }, 'Message deleted')
        : last.body || attachmentSummary(last),
    ];
  } else {
    preview = [h('span', { class: 'preview-empty' }, c.kind === 'group' ? 'New group' : 'No messages yet')];
  }
  const when = last ? last.createdAt : c.createdAt;
  return h(
    'li',
    {
      class: `conv${c.id === store.activeId ? ' active' : ''}${c.unread > 0 ? ' has-unread' : ''}`,
      'data-id': c.id,
      'data-unread': c.unread,
      role: 'button',
      tabindex: 0,
      onclick: () => onOpen(c.id),
      onkeydown: (e: Event) => {
        if ((e as KeyboardEvent).key === 'Enter') onOpen(c.id);
      },
    },
    avatar(title, peer ? (store.presence.get(peer) ?? null) : null),
    h(
      'div',
      { class: 'conv-main' },
      h(
        'div',
        { class: 'conv-top' },
        h(
          'span',
          { class: 'conv-title' },
          c.kind === 'group' ? h('span', { class: 'group-mark' }, '#') : null,
          title,
        ),
        h('span', { class: 'conv-time' }, shortWhen(when)),
      ),
      h(
        'div',
        { class: 'conv-bottom' },
        h('span', { class: 'conv-preview' }, ...preview),
        c.unread > 0
          ? h(
              'span',
              { class: 'badge', 'aria-label': `${c.unread} unread` },
              c.unread > 99 ? '99+' : c.unread,
            )
          : null,
      ),
    ),
  );
}

function statusOf(
  store: ChatStore,
  c: Conversation,
  m: WireMessage,
): { key: string; text: string; title: string } {
  const readers = store.readersOf(c, m.id);
  if (readers.length > 0) {
    return { key: 'read', text: '✓✓', title: c.kind === 'direct' ? 'Read' : `Read by ${readers.join(', ')}` };
  }
  return { key: 'sent', text: '✓', title: 'Sent' };
}

/**
 * What the user can do to a message: reply to any, open a thread; edit (within the window) and
 * delete their own.
 */
export interface MessageActions {
  canEdit(m: WireMessage): boolean;
  edit(m: WireMessage): void;
  remove(m: WireMessage): void;
  reply(m: WireMessage): void;
  openThread(conversationId: string, rootId: string): void;
  /** The reaction row under a message (reactions.ts), if the app shows reactions. */
  reactions?(m: WireMessage): HTMLElement | null;
}

/** A reply's quote of its parent; a click opens the thread. */
export function quoteNode(m: WireMessage, actions?: MessageActions): HTMLElement | null {
  const q = m.replyTo;
  if (!q) return null;
  return h(
    'button',
    {
      class: `quote${q.deleted ? ' deleted' : ''}`,
      type: 'button',
      'data-reply-to': q.id,
      title: 'Open the thread',
      onclick: () => {
        if (m.threadRoot) actions?.openThread(m.conversationId, m.threadRoot);
      },
    },
    h('span', { class: 'quote-sender' }, q.senderId),
    h('span', { class: 'quote-text' }, q.deleted ? 'Message deleted' : q.preview),
  );
}

/** "3 replies" under a thread root; a click opens the thread. */
export function threadLink(store: ChatStore, m: WireMessage, actions?: MessageActions): HTMLElement | null {
  const t = store.threadOf(m.id);
  if (!t || !actions || m.threadRoot) return null;
  return h(
    'button',
    {
      class: 'link thread-link',
      type: 'button',
      'data-action': 'thread',
      onclick: () => actions.openThread(m.conversationId, m.id),
    },
    `${t.replyCount} ${t.replyCount === 1 ? 'reply' : 'replies'} · last ${clock(t.lastReplyAt)}`,
  );
}

/**
 * The buttons on a bubble: Reply on any message not deleted, Edit and Delete on one's own, and
 * Delete on others' in a group this user moderates (owner, or admin for members' messages).
 */
export function actionNodes(store: ChatStore, m: WireMessage, actions?: MessageActions): HTMLElement | null {
  if (!actions || m.state?.deleted) return null;
  const mine = m.senderId === store.me;
  const conv = store.conversations.get(m.conversationId);
  const moderates = !mine && conv !== undefined && store.mayModerate(conv, m.senderId);
  const button = (action: string, label: string, onclick: () => void) =>
    h('button', { class: 'link', type: 'button', 'data-action': action, onclick }, label);
  return h(
    'span',
    { class: 'msg-actions' },
    button('reply', 'Reply', () => actions.reply(m)),
    mine && actions.canEdit(m) ? button('edit', 'Edit', () => actions.edit(m)) : null,
    mine || moderates ? button('delete', 'Delete', () => actions.remove(m)) : null,
  );
}

/** What a message of attachments alone shows as its preview. */
function attachmentSummary(m: WireMessage): string {
  const first = m.attachments?.[0];
  if (!first) return '';
  return first.contentType.startsWith('image/') ? '📷 Photo' : `📄 ${first.name ?? 'File'}`;
}

/**
 * The message list of a conversation, with day separators, sender names and receipts; the
 * user's own messages get edit and delete buttons (`actions`), deleted ones show as such.
 * `attachment` renders one attached file (the app loads images with the user's token).
 */
export function messageNodes(
  store: ChatStore,
  c: Conversation,
  actions?: MessageActions,
  attachment?: (a: WireAttachment) => HTMLElement,
): HTMLElement[] {
  const out: HTMLElement[] = [];
  const messages = store.messagesOf(c.id);
  let prev: WireMessage | null = null;
  let lastReadOwn: string | null = null;
  for (const m of messages) {
    if (m.senderId === store.me && store.readersOf(c, m.id).length > 0) lastReadOwn = m.id;
  }
  for (const m of messages) {
    if (!prev || !sameDay(prev.createdAt, m.createdAt)) {
      out.push(h('div', { class: 'day' }, h('span', null, dayLabel(m.createdAt))));
    }
    const mine = m.senderId === store.me;
    const runStart = !prev || prev.senderId !== m.senderId || !sameDay(prev.createdAt, m.createdAt);
    const status = mine ? statusOf(store, c, m) : null;
    out.push(
      h(
        'div',
        {
          class: `msg ${mine ? 'mine' : 'theirs'}${runStart ? ' run-start' : ''}`,
          'data-id': m.id,
          'data-sender': m.senderId,
          'data-status': status?.key,
        },
        !mine && c.kind === 'group' && runStart ? h('div', { class: 'sender' }, m.senderId) : null,
        h(
          'div',
          { class: 'bubble' },
          quoteNode(m, actions),
          m.state?.deleted ? h('span', { class: 'body deleted' }, 'Message deleted') : null,
          !m.state?.deleted && attachment && m.attachments?.length
            ? h('div', { class: 'attachments' }, m.attachments.map(attachment))
            : null,
          !m.state?.deleted && m.body ? h('span', { class: 'body' }, m.body) : null,
          h(
            'span',
            { class: 'meta' },
            m.state && !m.state.deleted && m.state.editCount > 0
              ? h('span', { class: 'edited' }, 'edited')
              : null,
            actionNodes(store, m, actions),
            h('time', { datetime: new Date(m.createdAt).toISOString() }, clock(m.createdAt)),
            status ? h('span', { class: `ticks ${status.key}`, title: status.title }, status.text) : null,
          ),
        ),
        actions?.reactions?.(m) ?? null,
        threadLink(store, m, actions),
        m.id === lastReadOwn
          ? h(
              'div',
              { class: 'read-note' },
              c.kind === 'direct' ? 'Read' : `Read by ${store.readersOf(c, m.id).join(', ')}`,
            )
          : null,
      ),
    );
    prev = m;
  }
  return out;
}

export function pendingNodes(
  pending: PendingMessage[],
  onDiscard: (clientMsgId: string) => void,
): HTMLElement[] {
  return pending.map((p) =>
    h(
      'div',
      {
        class: `msg mine run-start pending${p.failed ? ' failed' : ''}`,
        'data-client-id': p.clientMsgId,
        'data-status': p.failed ? 'failed' : 'sending',
      },
      h(
        'div',
        { class: 'bubble' },
        h('span', { class: 'body' }, p.body),
        h(
          'span',
          { class: 'meta' },
          h('time', null, clock(p.queuedAt)),
          h('span', { class: 'ticks', title: p.failed ?? 'Waiting to be sent' }, p.failed ? '!' : '…'),
        ),
      ),
      p.failed
        ? h(
            'div',
            { class: 'read-note failed-note' },
            `Not sent: ${p.failed} `,
            h(
              'button',
              { class: 'link', type: 'button', onclick: () => onDiscard(p.clientMsgId) },
              'Dismiss',
            ),
          )
        : null,
    ),
  );
}

export function typingText(users: string[]): string {
  if (users.length === 0) return '';
  if (users.length === 1) return `${users[0]} is typing`;
  if (users.length === 2) return `${users[0]} and ${users[1]} are typing`;
  return `${users.length} people are typing`;
}
