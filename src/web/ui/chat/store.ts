/**
 * The web app's state, with no DOM in it: conversations with their loaded messages, unread counts,
 * read markers of other members, typing indicators, presence, and messages still in the client's
 * outbox. The view renders from it; `test/web-store.test.ts` tests it on Node.
 */
import {
  compareIds,
  maxId,
  type PresenceStatus,
  type WireAttachment,
  type WireConversation,
  type WireConversationSummary,
  type WireMessage,
  type WireReplyQuote,
  type WireThread,
} from '../../../client/index.ts';

export interface PendingMessage {
  clientMsgId: string;
  conversationId: string;
  body: string;
  /** Ids of the files it references (their metadata is in `ChatStore.uploaded`). */
  attachments?: string[];
  /** The message it replies to, if any. */
  replyTo?: string;
  queuedAt: number;
  /** Why the server refused it for good, or null while it waits to be sent. */
  failed: string | null;
}

export interface Conversation {
  id: string;
  kind: 'direct' | 'group';
  title: string | null;
  createdAt: number;
  /** The creator: a group's owner (null until told). */
  createdBy: string | null;
  /** Members as last announced, or null when this client has not been told (groups from the list). */
  members: string[] | null;
  /** A group's admins as last announced (never the owner). */
  admins: string[];
  lastMessage: WireMessage | null;
  unread: number;
  /** This user's read marker. */
  lastReadId: string | null;
  /** Loaded messages by id (history pages, live and replayed messages). */
  messages: Map<string, WireMessage>;
  /** The newest history page was loaded (so `messages` is contiguous up to now). */
  loaded: boolean;
  /** Older messages exist before the oldest loaded one. */
  hasMore: boolean;
  /** Other members' read markers, as seen in receipts: userId → messageId. */
  readBy: Map<string, string>;
  /** Members typing: userId → expiresAt (ms since epoch). */
  typing: Map<string, number>;
}

export interface PresenceView {
  status: PresenceStatus;
  lastSeen: number | null;
}

/** The other user of a direct conversation id (`dm:<a>:<b>`), or null. */
export function directPeer(conversationId: string, me: string): string | null {
  if (!conversationId.startsWith('dm:')) return null;
  const [a, b] = conversationId.slice(3).split(':');
  if (a === undefined || b === undefined) return null;
  return a === me ? b : a;
}

function newConversation(id: string, fields: Partial<Conversation>): Conversation {
  return {
    id,
    kind: id.startsWith('dm:') ? 'direct' : 'group',
    title: null,
    createdAt: Date.now(),
    createdBy: null,
    members: null,
    admins: [],
    lastMessage: null,
    unread: 0,
    lastReadId: null,
    messages: new Map(),
    loaded: false,
    hasMore: true,
    readBy: new Map(),
    typing: new Map(),
    ...fields,
  };
}

const later = (a: WireMessage | null, b: WireMessage): WireMessage =>
  a === null || compareIds(b.id, a.id) > 0 ? b : a;

/** How a reply quotes its parent (the server's rule: the first 100 characters, none once deleted). */
export function quoteOf(parent: WireMessage): WireReplyQuote {
  const deleted = parent.state?.deleted === true;
  return {
    id: parent.id,
    senderId: parent.senderId,
    preview: deleted ? '' : Array.from(parent.body).slice(0, 100).join(''),
    deleted,
  };
}

export class ChatStore {
  readonly conversations = new Map<string, Conversation>();
  /** Thread roots' reply counts by root id; the larger count wins (they only grow). */
  readonly threads = new Map<string, WireThread>();
  readonly pending = new Map<string, PendingMessage>();
  /** Files this tab uploaded, by id: what its own messages show once acked (the ack has no metadata). */
  readonly uploaded = new Map<string, WireAttachment>();
  readonly presence = new Map<string, PresenceView>();
  activeId: string | null = null;

  constructor(readonly me: string) {}

  get active(): Conversation | null {
    return this.activeId === null ? null : (this.conversations.get(this.activeId) ?? null);
  }

  /** The conversation, created empty if this client has not heard of it yet. */
  conversation(id: string): Conversation {
    let c = this.conversations.get(id);
    if (!c) {
      c = newConversation(id, {});
      const peer = directPeer(id, this.me);
      if (peer !== null) c.members = [...new Set([this.me, peer])].sort();
      this.conversations.set(id, c);
    }
    return c;
  }

  peerOf(c: Conversation): string | null {
    return c.kind === 'direct' ? directPeer(c.id, this.me) : null;
  }

  titleOf(c: Conversation): string {
    if (c.kind === 'direct') return this.peerOf(c) ?? c.id;
    return c.title ?? 'Untitled group';
  }

  /** Applies the server's conversation list (after every (re)connect): it is authoritative. */
  applySummaries(list: WireConversationSummary[]): void {
    for (const s of list) {
      const c = this.conversation(s.id);
      c.kind = s.kind;
      c.title = s.title;
      c.createdAt = s.createdAt;
      c.createdBy = s.createdBy;
      if (s.lastMessage) c.lastMessage = later(c.lastMessage, s.lastMessage);
      c.lastReadId = maxId(c.lastReadId, s.lastReadId);
      c.unread = s.unreadCount;
    }
  }

  /** A conversation event, or the result of `openDirect` / `createGroup`. */
  upsert(w: WireConversation): Conversation {
    const c = this.conversation(w.id);
    c.kind = w.kind;
    c.title = w.title;
    c.createdAt = w.createdAt;
    c.createdBy = w.createdBy;
    c.members = [...w.members].sort();
    c.admins = [...w.admins];
    return c;
  }

  /** A user's role in a conversation: a group's owner, its admins, everyone else a member. */
  roleOf(c: Conversation, userId: string): 'owner' | 'admin' | 'member' {
    if (c.kind !== 'group') return 'member';
    if (c.createdBy === userId) return 'owner';
    return c.admins.includes(userId) ? 'admin' : 'member';
  }

  /**
   * Whether this user may delete someone else's message or remove a member (the server decides;
   * this only picks which buttons to show): the owner any, an admin any but the owner's.
   */
  mayModerate(c: Conversation, otherUserId: string): boolean {
    const mine = this.roleOf(c, this.me);
    return mine === 'owner' || (mine === 'admin' && this.roleOf(c, otherUserId) === 'member');
  }

  /**
   * Adds a message (live, replayed, or own just acked). Returns false when it was already known.
   * Counts it unread when someone else sent it after this user's read marker; the caller marks
   * it read at once when the conversation is on screen.
   */
  addMessage(m: WireMessage): boolean {
    const c = this.conversation(m.conversationId);
    this.noteThreads(m);
    if (c.messages.has(m.id)) return false;
    c.messages.set(m.id, m);
    const wasNewest = c.lastMessage === null || compareIds(m.id, c.lastMessage.id) > 0;
    c.lastMessage = later(c.lastMessage, m);
    c.typing.delete(m.senderId);
    if (m.senderId === this.me) {
      // Sending is reading: the server does not count one's own messages as unread either.
      return true;
    }
    if (wasNewest && (c.lastReadId === null || compareIds(m.id, c.lastReadId) > 0)) c.unread++;
    return true;
  }

  /**
   * An edit or delete (the SDK's `update` event: already the newest state). Replaces the loaded
   * copy, if any, and the conversation's last message: a deleted body is dropped from the tab.
   */
  applyUpdate(m: WireMessage): void {
    const c = this.conversation(m.conversationId);
    this.noteThreads(m);
    if (c.messages.has(m.id)) c.messages.set(m.id, m);
    if (c.lastMessage?.id === m.id) c.lastMessage = m;
    if (!m.state?.deleted) return;
    // Quotes of a deleted message keep no text (docs/protocol.md, "Replies and threads").
    const scrub = (r: WireMessage): WireMessage =>
      r.replyTo?.id === m.id ? { ...r, replyTo: { ...r.replyTo, preview: '', deleted: true } } : r;
    for (const [id, r] of c.messages) c.messages.set(id, scrub(r));
    if (c.lastMessage) c.lastMessage = scrub(c.lastMessage);
  }

  /** A root's reply count, as a reply (`rootThread`), the root itself or a `thread` event tells. */
  applyThread(rootId: string, thread: WireThread): boolean {
    const known = this.threads.get(rootId);
    if (known && known.replyCount >= thread.replyCount) return false;
    this.threads.set(rootId, thread);
    return true;
  }

  threadOf(rootId: string): WireThread | null {
    return this.threads.get(rootId) ?? null;
  }

  private noteThreads(m: WireMessage): void {
    if (m.thread) this.applyThread(m.id, m.thread);
    if (m.threadRoot && m.rootThread) this.applyThread(m.threadRoot, m.rootThread);
  }

  /** A loaded message of a conversation, if this tab has it. */
  message(conversationId: string, id: string): WireMessage | null {
    return this.conversations.get(conversationId)?.messages.get(id) ?? null;
  }

  /** A page of history: newest first (`before` / first page) or oldest first (`after`). */
  addHistory(conversationId: string, messages: WireMessage[], hasMore: boolean, older: boolean): number {
    const c = this.conversation(conversationId);
    let added = 0;
    for (const m of messages) {
      this.noteThreads(m);
      if (c.messages.has(m.id)) continue;
      c.messages.set(m.id, m);
      c.lastMessage = later(c.lastMessage, m);
      added++;
    }
    if (older || !c.loaded) c.hasMore = hasMore;
    c.loaded = true;
    return added;
  }

  /** Loaded messages of a conversation, oldest first. */
  messagesOf(conversationId: string): WireMessage[] {
    const c = this.conversations.get(conversationId);
    if (!c) return [];
    return [...c.messages.values()].sort((a, b) => compareIds(a.id, b.id));
  }

  oldestLoadedId(conversationId: string): string | null {
    return this.messagesOf(conversationId)[0]?.id ?? null;
  }

  /**
   * This user read up to `messageId` (here or on another device). Returns true when the marker
   * moved, i.e. the server should be told (if it was this device).
   */
  markRead(conversationId: string, messageId: string): boolean {
    const c = this.conversation(conversationId);
    if (c.lastReadId !== null && compareIds(messageId, c.lastReadId) <= 0) return false;
    c.lastReadId = messageId;
    if (c.lastMessage === null || compareIds(messageId, c.lastMessage.id) >= 0) {
      c.unread = 0;
    } else {
      // Count what is still unread among the loaded messages (exact once history is loaded).
      let n = 0;
      for (const m of c.messages.values()) {
        if (m.senderId !== this.me && compareIds(m.id, messageId) > 0) n++;
      }
      // Without the history the count cannot be redone: keep the server's until the next list.
      if (c.loaded) c.unread = n;
    }
    return true;
  }

  /** A `receipt`: another member read up to a message, or this user did on another device. */
  receipt(conversationId: string, userId: string, messageId: string): void {
    if (userId === this.me) {
      this.markRead(conversationId, messageId);
      return;
    }
    const c = this.conversation(conversationId);
    c.readBy.set(userId, maxId(c.readBy.get(userId) ?? null, messageId) ?? messageId);
  }

  /** Members other than this user who have read `messageId` (as far as receipts told us). */
  readersOf(c: Conversation, messageId: string): string[] {
    const out: string[] = [];
    for (const [user, upTo] of c.readBy) if (compareIds(upTo, messageId) >= 0) out.push(user);
    return out.sort();
  }

  typing(conversationId: string, userId: string, expiresAt: number): void {
    if (userId === this.me) return;
    this.conversation(conversationId).typing.set(userId, expiresAt);
  }

  /** Who is typing in a conversation now; forgets expired indicators. */
  typingIn(conversationId: string, now: number): string[] {
    const c = this.conversations.get(conversationId);
    if (!c) return [];
    const out: string[] = [];
    for (const [user, until] of c.typing) {
      if (until <= now) c.typing.delete(user);
      else out.push(user);
    }
    return out.sort();
  }

  /** The earliest typing expiry of any conversation, to schedule a re-render; null if none. */
  nextTypingExpiry(): number | null {
    let next: number | null = null;
    for (const c of this.conversations.values()) {
      for (const until of c.typing.values()) if (next === null || until < next) next = until;
    }
    return next;
  }

  setPresence(userId: string, status: PresenceStatus, lastSeen: number | null): void {
    this.presence.set(userId, { status, lastSeen });
  }

  /** Users whose presence the app watches: the other side of every direct conversation. */
  watchedUsers(): string[] {
    const users = new Set<string>();
    for (const c of this.conversations.values()) {
      const peer = this.peerOf(c);
      if (peer !== null && peer !== this.me) users.add(peer);
    }
    return [...users].sort();
  }

  addPending(p: Omit<PendingMessage, 'failed'>): void {
    this.pending.set(p.clientMsgId, { ...p, failed: null });
    this.conversation(p.conversationId);
  }

  /** An outbox message was acked: it becomes a message with its server id. */
  pendingSent(clientMsgId: string, messageId: string, createdAt: number): WireMessage | null {
    const p = this.pending.get(clientMsgId);
    if (!p) return null;
    this.pending.delete(clientMsgId);
    const m: WireMessage = {
      id: messageId,
      conversationId: p.conversationId,
      senderId: this.me,
      clientMsgId,
      body: p.body,
      createdAt,
    };
    const files = (p.attachments ?? []).flatMap((id) => {
      const meta = this.uploaded.get(id);
      return meta ? [meta] : [];
    });
    if (files.length > 0) m.attachments = files;
    // Quoted from the parent as this tab has it; the server's copy (history, a thread) says the same.
    const parent = p.replyTo ? this.message(p.conversationId, p.replyTo) : null;
    if (parent) {
      m.replyTo = quoteOf(parent);
      m.threadRoot = parent.threadRoot ?? parent.id;
    }
    this.addMessage(m);
    return m;
  }

  pendingFailed(clientMsgId: string, reason: string): void {
    const p = this.pending.get(clientMsgId);
    if (p) p.failed = reason;
  }

  pendingOf(conversationId: string): PendingMessage[] {
    return [...this.pending.values()]
      .filter((p) => p.conversationId === conversationId)
      .sort((a, b) => a.queuedAt - b.queuedAt);
  }

  /** Conversations by latest activity (last message, else unsent message, else creation), newest first. */
  sorted(): Conversation[] {
    const activity = (c: Conversation) => {
      let t = c.lastMessage?.createdAt ?? c.createdAt;
      for (const p of this.pending.values()) if (p.conversationId === c.id) t = Math.max(t, p.queuedAt);
      return t;
    };
    return [...this.conversations.values()].sort((a, b) => activity(b) - activity(a));
  }
}
