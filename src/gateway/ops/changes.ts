/**
 * `edit`, `delete`, `react` and `unreact`: a change is a *change record* in the conversation's message stream (its own
 * snowflake id, stored with the caller's clientMsgId for idempotent resends, made visible, queued
 * for offline members, found by replay by position, replicated in the conversation's order),
 * and its effect is merged into the target message's row (`Storage.applyChange`, and
 * `applyReaction` for a reaction's own register). Clients never
 * see the record: they get an `update` frame with the target's whole current state. A delete
 * also scrubs the offline-queue copies of the message (the store scrubs its late-index copies).
 * `deliverReplicated` does the same delivery for a change another region made.
 * docs/architecture.md, "Edits, deletes and reactions".
 */

import { ChatError, ErrorCode } from '../../errors.ts';
import type { Whereabouts } from '../../presence/types.ts';
import { type ParsedRequestOf, type ReplyOf, resultFrame } from '../../protocol/index.ts';
import type { ChangeKind, MessageState, StoredMessage } from '../../storage/types.ts';
import { snowflakeTime } from '../../util/snowflake.ts';
import type { ConnectionState } from '../connection.ts';
import { liveUpdate, toWire } from '../frames.ts';
import { type Refs, readRefs } from '../refs.ts';
import { type CachedMembers, type Conversations, roleOf } from './conversations.ts';
import type { Messages } from './messages.ts';
import type { HandlersFor, OpsContext } from './types.ts';

type ChangeRequest = ParsedRequestOf<'edit' | 'delete' | 'react' | 'unreact'>;

export class Changes {
  constructor(
    private readonly d: OpsContext,
    private readonly conversations: Conversations,
    private readonly messages: Messages,
  ) {}

  readonly handlers: HandlersFor<'edit' | 'delete' | 'react' | 'unreact'> = {
    edit: (state, f) => this.d.tasks.track(this.change(state, f, 'edit', f.body)),
    delete: (state, f) => this.d.tasks.track(this.change(state, f, 'delete', '')),
    react: (state, f) => this.d.tasks.track(this.change(state, f, 'react', '')),
    unreact: (state, f) => this.d.tasks.track(this.change(state, f, 'unreact', '')),
  };

  /**
   * Delivers a change another region made and replicated here, once the target's row has it:
   * `target` is the row's state after the merge. The record becomes visible here now (a late one
   * goes into the late index first), offline members homed here get it queued, a delete scrubs
   * their queued copies of the message, and connected members get the `update` live.
   */
  async deliverReplicated(record: StoredMessage, target: StoredMessage, members: string[]): Promise<void> {
    const visibleAt = await this.d.visibility.markVisible(record, 'replica');
    const where = await this.d.hub.locate(members);
    const queued = await this.queueAndScrub(members, record, target, where);
    const refs = await readRefs(this.d.storage, [target]);
    const routed = liveUpdate(record, target, this.d.visibility.token(visibleAt), refs);
    await this.d.hub.fanOut(members, routed, undefined, where);
    if (queued.length > 0) await this.messages.liveCopyIfOnlineNow(queued, routed);
  }

  /**
   * An operator's edit or delete of any message (the server API; `state` is its author,
   * `SYSTEM_SENDER_ID`): the same path as the sender's own, without the membership, sender and
   * edit-window checks.
   */
  adminChange(state: ConnectionState, f: ParsedRequestOf<'edit' | 'delete'>): Promise<ReplyOf<'edit'>> {
    const body = f.op === 'edit' ? f.body : '';
    return this.d.tasks.track(this.change(state, f, f.op, body, true));
  }

  private async change(
    state: ConnectionState,
    f: ChangeRequest,
    kind: ChangeKind,
    body: string,
    admin = false,
  ): Promise<ReplyOf<'edit'>> {
    if (this.d.tasks.draining)
      throw new ChatError(ErrorCode.ShuttingDown, 'gateway is shutting down; reconnect and resend');
    const userId = state.conn.userId;
    const members = admin
      ? await this.conversations.requireExisting(f.conversationId)
      : await this.conversations.requireMember(f.conversationId, userId);
    const target = await this.read(() => this.d.storage.getMessage(f.conversationId, f.messageId));
    // A change record is not a message one can change; neither is someone else's message.
    if (!target || target.change) throw new ChatError(ErrorCode.NotFound, 'no such message');
    const emoji = 'emoji' in f ? f.emoji : null;
    if (emoji !== null) {
      // Any member reacts, to a message that is not deleted, within the distinct-emoji limit
      // (checked against the state read here: two first reactions racing may pass it by one).
      if (target.state?.deleted) throw new ChatError(ErrorCode.MessageDeleted, 'the message was deleted');
      const entries = target.reactions?.entries ?? [];
      const max = this.d.limits.maxReactionsPerMessage;
      if (kind === 'react' && entries.length >= max && !entries.some((e) => e.emoji === emoji)) {
        throw new ChatError(
          ErrorCode.TooManyReactions,
          'the message has as many distinct reactions as it may',
          {
            maxReactionsPerMessage: max,
          },
        );
      }
    } else if (
      !admin &&
      target.senderId !== userId &&
      !(kind === 'delete' && mayDeleteOthers(members, userId, target))
    ) {
      throw new ChatError(ErrorCode.Forbidden, 'only the sender may change a message');
    }
    if (emoji === null && target.state?.deleted) {
      // Deleting again (a resend whose first attempt was applied, or a second device) answers
      // with the tombstone; an edit cannot bring a deleted message back.
      if (kind === 'delete') {
        const refs = await readRefs(this.d.storage, [target]);
        const data = {
          changeId: target.state.revision.toString(),
          message: toWire(target, refs),
          duplicate: true,
        };
        return resultFrame(f.op, f.id, data);
      }
      throw new ChatError(ErrorCode.MessageDeleted, 'the message was deleted');
    }
    if (!admin && kind === 'edit' && Date.now() - target.createdAt > this.d.limits.editWindowMs) {
      throw new ChatError(ErrorCode.EditWindowPassed, 'the message is too old to edit', {
        editWindowMs: this.d.limits.editWindowMs,
      });
    }

    // A blocked user may still delete their own messages and take reactions back, but adds
    // nothing new to the DM: no edit, no reaction.
    if (!admin && (kind === 'edit' || kind === 'react'))
      await this.conversations.requireUnblocked(members, userId);

    const slot = this.messages.ordering.reserve(f.conversationId);
    let record: StoredMessage;
    let duplicate: boolean;
    let current: StoredMessage;
    let where: Whereabouts;
    let visibleAt: number;
    let queued: string[];
    let refs: Refs;
    const recipients = [...members.members];
    try {
      const changeId = this.d.ids.next();
      const minted: StoredMessage = {
        conversationId: f.conversationId,
        messageId: changeId,
        senderId: userId,
        clientMsgId: f.clientMsgId,
        body: '',
        createdAt: snowflakeTime(changeId),
        change:
          emoji === null ? { kind, targetId: target.messageId } : { kind, targetId: target.messageId, emoji },
      };
      ({ message: record, duplicate } = await this.d.storage.appendMessage(minted, {
        firstAttempt: f.attempt === 1,
      }));
      // A delete removes the message's files first, in every region (the store replicates it):
      // once the tombstone is applied its refs are gone, so a resend could no longer find them.
      if (kind === 'delete' && target.attachments?.length) {
        await this.d.storage.attachments.delete(
          f.conversationId,
          target.attachments.map((a) => a.id),
        );
      }
      // Applied again on a resend: the first attempt may have stored the record and died before
      // this. Applying the same change twice changes nothing.
      const applied =
        emoji === null
          ? await this.d.storage.applyChange({
              conversationId: f.conversationId,
              targetId: target.messageId,
              state: nextState(target, record, kind),
              body,
              record,
            })
          : await this.d.storage.applyReaction({
              conversationId: f.conversationId,
              targetId: target.messageId,
              emoji,
              userId,
              on: kind === 'react',
              revision: record.messageId,
              record,
            });
      if (!applied) throw new Error('target message vanished');
      current = applied;
      // Made visible, then one presence lookup routes the fan-out and decides the offline queue,
      // as for a send (messages.ts); queued and scrubbed before the reply.
      visibleAt = await this.d.visibility.markVisible(record, duplicate ? 'resend' : 'send');
      where = await this.d.hub.locate(recipients);
      queued = await this.queueAndScrub(recipients, record, current, where);
      // An edited or deleted reply still quotes its parent and carries its root's count.
      refs = await readRefs(this.d.storage, [current]);
    } catch (cause) {
      slot.cancel();
      throw new ChatError(
        ErrorCode.Unavailable,
        'change not stored; resend with the same clientMsgId',
        undefined,
        {
          cause,
        },
      );
    }
    slot.complete(() => {
      const pos = this.d.visibility.positionAtFanOut(record, visibleAt, duplicate ? 'resend' : 'send');
      const routed = liveUpdate(record, current, pos, refs);
      this.d.tasks.background(
        'fanout',
        this.d.hub.fanOut(recipients, routed, state.conn.connectionId, where),
      );
      if (queued.length > 0)
        this.d.tasks.background('offline', this.messages.liveCopyIfOnlineNow(queued, routed));
    });
    return resultFrame(f.op, f.id, {
      changeId: record.messageId.toString(),
      message: toWire(current, refs),
      duplicate,
    });
  }

  /**
   * Queues the change record for members connected nowhere (their replay resolves it to the
   * target's state when it reads it) and, once the message is deleted, empties the copies of it
   * queued for the members this region keeps queues for. Returns who was queued.
   */
  private async queueAndScrub(
    members: string[],
    record: StoredMessage,
    target: StoredMessage,
    where: Whereabouts,
  ): Promise<string[]> {
    const queued = await this.messages.queueForOffline(members, record, where);
    if (target.state?.deleted) {
      const isHome = this.d.isHome;
      const holders = isHome ? members.filter((u) => isHome(u)) : members;
      await this.d.storage.scrubOffline(holders, target.conversationId, target.messageId);
    }
    return queued;
  }

  /** A store read that fails is `unavailable` (retry), not `internal`. */
  private async read<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (cause) {
      throw new ChatError(ErrorCode.Unavailable, 'store unavailable; retry', undefined, { cause });
    }
  }
}

/**
 * A group's owner deletes anyone's message, its admins anyone's but the owner's (the change
 * record's sender, and the `update` frame's `by`, say who deleted).
 */
function mayDeleteOthers(entry: CachedMembers, userId: string, target: StoredMessage): boolean {
  const role = roleOf(entry, userId);
  return role === 'owner' || (role === 'admin' && roleOf(entry, target.senderId) !== 'owner');
}

/**
 * The state `record` gives `target`: its id is the revision; an edit stamps its time and counts
 * one more edit than the target had (a resend of an edit already applied keeps the count).
 */
function nextState(target: StoredMessage, record: StoredMessage, kind: ChangeKind): MessageState {
  const prior = target.state;
  const sameChange = prior?.revision === record.messageId;
  if (kind === 'delete') {
    return {
      revision: record.messageId,
      deleted: true,
      editedAt: prior?.editedAt ?? null,
      editCount: prior?.editCount ?? 0,
    };
  }
  return {
    revision: record.messageId,
    deleted: false,
    editedAt: record.createdAt,
    editCount: sameChange ? (prior?.editCount ?? 1) : (prior?.editCount ?? 0) + 1,
  };
}
