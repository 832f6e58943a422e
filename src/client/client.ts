/**
 * `ChatClient`: what an app asks of the chat service — sending, edits, reactions, history,
 * threads, search, conversations, moderation, presence — as typed requests over the connection
 * `ChatConnection` keeps (connection.ts: reconnects, resume, dedup, resends).
 */
import type { AttachmentData, DownloadOptions, UploadOptions } from './attachments.ts';
import { ChatConnection, type RequestFrame } from './connection.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';
import { compareIds, randomClientMsgId } from './ids.ts';
import type { HistoryQuery, SearchRequest, SendOptions } from './options.ts';
import type { SentInfo } from './outbox.ts';
import type {
  BanResult,
  GroupRoleName,
  MuteResult,
  ResultOf,
  WireAttachment,
  WireConversation,
  WireConversationSummary,
  WireMessage,
  WirePresence,
} from './types.ts';

export class ChatClient extends ChatConnection {
  // ---- sending -------------------------------------------------------------------------

  /**
   * Queues a message and resolves once the server has stored it. While disconnected it waits in
   * the outbox; after a reconnect it is resent with the same `clientMsgId`, so it is stored once.
   */
  send(conversationId: string, body: string, opts: SendOptions = {}): Promise<SentInfo> {
    if (this.closedByUser) {
      return Promise.reject(new ChatClientError(LocalErrorCode.Closed, 'client closed'));
    }
    const attachments = opts.attachments ?? [];
    if (body.length === 0 && attachments.length === 0) {
      return Promise.reject(
        new ChatClientError('invalid_field', 'body: empty, and no attachments', { field: 'body' }),
      );
    }
    if (this.limits && body.length > this.limits.maxBodyChars) {
      return Promise.reject(
        new ChatClientError('invalid_field', `body: longer than ${this.limits.maxBodyChars} characters`, {
          field: 'body',
        }),
      );
    }
    return this.sender.enqueue(conversationId, body, attachments, opts.replyTo);
  }

  /**
   * Uploads a file to a conversation over HTTP on the gateway in use, with the client's token;
   * resolves with its metadata once the whole file is stored. Send its `id` in
   * `send(…, { attachments })`. Rejects with `too_large`, `unsupported_type`, `not_found` (not a
   * member), `unauthorized`, `unavailable` or `connect_failed`.
   */
  uploadAttachment(
    conversationId: string,
    data: AttachmentData,
    opts: UploadOptions,
  ): Promise<WireAttachment> {
    return this.files.upload(conversationId, data, opts);
  }

  /**
   * Downloads an attachment of a conversation the user is in (`not_found` otherwise). In a
   * browser, show an image with `URL.createObjectURL(blob)`: an `<img src>` cannot send the token.
   */
  downloadAttachment(id: string, opts: DownloadOptions = {}): Promise<Blob> {
    return this.files.download(id, opts);
  }

  /**
   * Edits a message this user sent (within the server's `editWindowMs`, see `serverLimits`);
   * resolves with the change and the message's state after it, also emitted as `update`. To
   * retry after a failure (`unavailable`, a timeout), pass the same `clientMsgId`: the server
   * applies the change once. Rejects with `not_found`, `forbidden`, `edit_window_passed`,
   * `message_deleted` as docs/protocol.md says.
   */
  edit(
    conversationId: string,
    messageId: string,
    body: string,
    opts: { clientMsgId?: string } = {},
  ): Promise<ResultOf<'edit'>> {
    return this.change({ op: 'edit', conversationId, messageId, body, ...changeIds(opts) });
  }

  /** Deletes a message this user sent (final: the body is gone everywhere). Retry as for `edit`. */
  delete(
    conversationId: string,
    messageId: string,
    opts: { clientMsgId?: string } = {},
  ): Promise<ResultOf<'delete'>> {
    return this.change({ op: 'delete', conversationId, messageId, ...changeIds(opts) });
  }

  /**
   * Adds this user's reaction `emoji` to a message; resolves with the change and the message's
   * reactions after it, also emitted as `update`. Reacting twice with one emoji changes nothing.
   * Retry as for `edit`. Rejects with `not_found`, `message_deleted`, `too_many_reactions`,
   * `invalid_field`.
   */
  react(
    conversationId: string,
    messageId: string,
    emoji: string,
    opts: { clientMsgId?: string } = {},
  ): Promise<ResultOf<'react'>> {
    return this.change({ op: 'react', conversationId, messageId, emoji, ...changeIds(opts) });
  }

  /** Removes this user's reaction `emoji` from a message (none to remove: nothing changes). */
  unreact(
    conversationId: string,
    messageId: string,
    emoji: string,
    opts: { clientMsgId?: string } = {},
  ): Promise<ResultOf<'unreact'>> {
    return this.change({ op: 'unreact', conversationId, messageId, emoji, ...changeIds(opts) });
  }

  private async change(
    frame: RequestFrame<'edit'> | RequestFrame<'delete'> | RequestFrame<'react'> | RequestFrame<'unreact'>,
  ): Promise<ResultOf<'edit'>> {
    const result = await this.result(frame);
    if (this.states.apply(result.message)) {
      // The reply came over the session whose welcome named this user.
      const by = this.session?.welcome?.userId ?? '';
      this.emit('update', result.message, { changeId: result.changeId, kind: frame.op, by, replay: false });
    }
    return result;
  }

  // ---- requests ------------------------------------------------------------------------

  history(conversationId: string, query: HistoryQuery = {}): Promise<ResultOf<'history'>> {
    return this.result({ op: 'history', conversationId, ...query });
  }

  /**
   * A page of the replies under thread root `rootId` (newest first; `after`: oldest first), with
   * the root as it is now. Threads are one level: a reply's own thread is its `threadRoot`'s.
   */
  async thread(
    conversationId: string,
    rootId: string,
    query: HistoryQuery = {},
  ): Promise<ResultOf<'thread'>> {
    const result = await this.result({ op: 'thread', conversationId, rootId, ...query });
    if (result.root.thread) {
      const event = this.threads.apply(conversationId, rootId, result.root.thread);
      if (event) this.emit('thread', event);
    }
    return result;
  }

  /**
   * The user's messages with every word of `query`, newest first, from the connected region's
   * store. For the next page pass `before: result.nextBefore` (null: no more). A page may be
   * short, even empty, with a `nextBefore`: the server bounds one request's work.
   */
  search(request: SearchRequest): Promise<ResultOf<'search'>> {
    return this.result({ op: 'search', ...request });
  }

  async openDirect(userId: string): Promise<WireConversation> {
    return (await this.result({ op: 'openDirect', userId })).conversation;
  }

  async createGroup(title: string, members: string[]): Promise<WireConversation> {
    return (await this.result({ op: 'createGroup', title, members })).conversation;
  }

  async addMembers(conversationId: string, userIds: string[]): Promise<WireConversation> {
    return (await this.result({ op: 'addMembers', conversationId, userIds })).conversation;
  }

  async removeMembers(conversationId: string, userIds: string[]): Promise<WireConversation> {
    return (await this.result({ op: 'removeMembers', conversationId, userIds })).conversation;
  }

  /**
   * Makes a member of a group an admin (`'admin'`) or an admin a member again: the group's owner
   * only (`forbidden` otherwise). Resolves with the group, its `admins` updated.
   */
  async setRole(conversationId: string, userId: string, role: GroupRoleName): Promise<WireConversation> {
    return (await this.result({ op: 'setRole', conversationId, userId, role })).conversation;
  }

  /**
   * Bans a user from a group (admins and the owner): removed if a member, and not to be added
   * back (`banned`) until `unban`. Resolves with the group and whom it bans now.
   */
  async ban(conversationId: string, userId: string): Promise<BanResult> {
    return this.result({ op: 'ban', conversationId, userId });
  }

  async unban(conversationId: string, userId: string): Promise<BanResult> {
    return this.result({ op: 'unban', conversationId, userId });
  }

  /**
   * Blocks a user: they can no longer send to this user in their direct conversation, or open
   * one (`blocked`). Resolves with whom this user blocks now.
   */
  async block(userId: string): Promise<string[]> {
    return (await this.result({ op: 'block', userId })).blocked;
  }

  async unblock(userId: string): Promise<string[]> {
    return (await this.result({ op: 'unblock', userId })).blocked;
  }

  /** Whom this user blocks, sorted. */
  async listBlocks(): Promise<string[]> {
    return (await this.result({ op: 'listBlocks' })).blocked;
  }

  async listConversations(): Promise<WireConversationSummary[]> {
    return (await this.result({ op: 'listConversations' })).conversations;
  }

  /** Moves this user's read marker in a conversation forward to `messageId`. */
  async markRead(conversationId: string, messageId: string): Promise<void> {
    await this.result({ op: 'read', conversationId, messageId });
  }

  /**
   * Mutes a conversation for this user: its messages no longer trigger the server's offline
   * (push) hook for any of the user's devices. Live delivery and history are unchanged.
   */
  async mute(conversationId: string): Promise<MuteResult> {
    return this.result({ op: 'mute', conversationId });
  }

  /** Undoes `mute`: the conversation's messages trigger the offline hook again. */
  async unmute(conversationId: string): Promise<MuteResult> {
    return this.result({ op: 'unmute', conversationId });
  }

  async presence(userIds: string[]): Promise<WirePresence[]> {
    const { users } = await this.result({ op: 'presence', userIds });
    return users.filter((u): u is WirePresence => typeof u === 'object' && u !== null);
  }

  /**
   * Watches users' presence: resolves with their current state, and from then on every status
   * change arrives as a `presence` event. The server forgets subscriptions when a connection
   * closes; the client subscribes again after every reconnect and emits the fresh state of each
   * watched user as a `presence` event, so a change missed while away is not missed for good.
   */
  async subscribePresence(userIds: string[]): Promise<WirePresence[]> {
    const { users } = await this.result({ op: 'subscribePresence', userIds });
    for (const u of userIds) this.watched.add(u);
    return users.filter((u): u is WirePresence => typeof u === 'object' && u !== null);
  }

  /** Stops watching these users, or everyone when `userIds` is omitted. */
  async unsubscribePresence(userIds?: string[]): Promise<void> {
    if (userIds) for (const u of userIds) this.watched.delete(u);
    else this.watched.clear();
    await this.result(userIds ? { op: 'unsubscribePresence', userIds } : { op: 'unsubscribePresence' });
  }

  /** Marks this device away (or back); kept across reconnects. */
  async setAway(away: boolean): Promise<void> {
    this.away = away;
    await this.result({ op: 'setAway', away });
  }

  /**
   * Tells the conversation's members this user is typing. Call it on keystrokes: the server
   * coalesces (`coalesced: true`). A server without typing rejects with `unknown_op`.
   */
  typing(conversationId: string): Promise<ResultOf<'typing'>> {
    return this.result({ op: 'typing', conversationId });
  }

  /** Round trip to the gateway; resolves with its clock (ms since epoch). */
  async ping(): Promise<number> {
    const reply = await this.request({ op: 'ping' });
    return reply.serverTime;
  }
}

/** A change's idempotency key: the caller's (a retry: maybe sent before), or a new one (attempt 1). */
function changeIds(opts: { clientMsgId?: string }): { clientMsgId: string; attempt?: number } {
  return opts.clientMsgId !== undefined
    ? { clientMsgId: opts.clientMsgId }
    : { clientMsgId: randomClientMsgId(), attempt: 1 };
}

/** Sorts messages by id (oldest first): for merging history pages with live messages. */
export function sortById(messages: WireMessage[]): WireMessage[] {
  return messages.sort((a, b) => compareIds(a.id, b.id));
}
