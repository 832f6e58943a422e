/**
 * `send`, and delivering a message once stored: the in-flight cap, per-conversation ordering of
 * live delivery (`OrderedDelivery`), offline queueing and the visibility stamp (`Visibility`)
 * before the ack, and the same delivery for messages another region stored (`deliverReplicated`,
 * called by replication). A resend answered `duplicate` is delivered again like a new send.
 */

import { ChatError, ErrorCode } from '../../errors.ts';
import type { Whereabouts } from '../../presence/types.ts';
import type { ParsedRequestOf, ReplyOf } from '../../protocol/index.ts';
import type { Routed } from '../../routing/types.ts';
import { type AttachmentMeta, type AttachmentRef, toRef } from '../../storage/attachments.ts';
import type { StoredMessage } from '../../storage/types.ts';
import { snowflakeTime } from '../../util/snowflake.ts';
import type { ConnectionState } from '../connection.ts';
import { liveMessage, toWire, wireThread } from '../frames.ts';
import { OrderedDelivery } from '../ordered-delivery.ts';
import { type Refs, readRefs } from '../refs.ts';
import type { Conversations } from './conversations.ts';
import type { HandlersFor, OpsContext } from './types.ts';

export class Messages {
  /**
   * Per-conversation order of live delivery, shared with edits and deletes (`changes.ts`): a
   * change is fanned out after the messages minted before it on this gateway.
   */
  readonly ordering = new OrderedDelivery();
  private sendsInFlight = 0;

  constructor(
    private readonly d: OpsContext,
    private readonly conversations: Conversations,
  ) {}

  readonly handlers: HandlersFor<'send'> = {
    send: (state, f) => this.post(state, f, false),
  };

  /**
   * A `send`, under the gateway's in-flight cap. `system`: the message is the deployment's own
   * (the server API; `state` is its sender, `SYSTEM_SENDER_ID`), posted to any existing
   * conversation without the sender being a member.
   */
  async post(state: ConnectionState, f: ParsedRequestOf<'send'>, system: boolean): Promise<ReplyOf<'send'>> {
    if (this.sendsInFlight >= this.d.limits.maxInFlightSends) {
      throw new ChatError(ErrorCode.Unavailable, 'gateway overloaded; retry with the same clientMsgId', {
        retryAfterMs: 100,
      });
    }
    this.sendsInFlight++;
    try {
      return await this.d.tasks.track(this.send(state, f, system));
    } finally {
      this.sendsInFlight--;
    }
  }

  /**
   * Delivers a message another region stored and replicated here: live to the members connected
   * in this region, and queued for offline members this region is home to (with the same
   * recheck as a local send). It becomes visible here now: a late one goes into the late index
   * first, and a failure there fails the apply, which is then retried.
   */
  async deliverReplicated(message: StoredMessage, members: string[]): Promise<void> {
    const visibleAt = await this.d.visibility.markVisible(message, 'replica');
    // A reply is quoted, and carries its root's summary, as this region has them now.
    const refs = await readRefs(this.d.storage, [message]);
    const routed = liveMessage(toWire(message, refs), this.d.visibility.token(visibleAt));
    // One lookup, after the replica was stored and made visible, routes it and decides the queue.
    const where = await this.d.hub.locate(members);
    await this.d.hub.fanOut(members, routed, undefined, where);
    const queued = await this.queueForOffline(members, message, where);
    if (queued.length > 0) {
      // A delete of this message that came from a third region may have been applied between the
      // replica's write and this queueing, its scrub finding no copy yet: scrub what was queued.
      const now = await this.d.storage.getMessage(message.conversationId, message.messageId);
      if (now?.state?.deleted)
        await this.d.storage.scrubOffline(queued, message.conversationId, message.messageId);
      await this.liveCopyIfOnlineNow(queued, routed);
    }
  }

  private async send(
    state: ConnectionState,
    f: ParsedRequestOf<'send'>,
    system: boolean,
  ): Promise<ReplyOf<'send'>> {
    if (this.d.tasks.draining)
      throw new ChatError(ErrorCode.ShuttingDown, 'gateway is shutting down; reconnect and resend');
    const userId = state.conn.userId;
    const members = system
      ? await this.conversations.requireExisting(f.conversationId)
      : await this.conversations.requireSender(f.conversationId, userId);
    const attachments = await this.attachmentsOf(f, userId);
    const parent = f.replyTo === null ? null : await this.parentOf(f.conversationId, f.replyTo);
    const messageId = this.d.ids.next();
    // Reserved right after the id is minted, so reservations are in id order.
    const slot = this.ordering.reserve(f.conversationId);
    const msg: StoredMessage = {
      conversationId: f.conversationId,
      messageId,
      senderId: userId,
      clientMsgId: f.clientMsgId,
      body: f.body,
      // The id's own time: a clock read apart from minting can be a millisecond later.
      createdAt: snowflakeTime(messageId),
      ...(attachments.length > 0 ? { attachments } : {}),
    };
    if (parent) {
      // One level of threads: a reply to a reply joins its parent's thread.
      msg.replyTo = parent.messageId;
      msg.threadRoot = parent.threadRoot ?? parent.messageId;
    }
    let stored: StoredMessage;
    let root: StoredMessage | null = null;
    let duplicate: boolean;
    const t0 = performance.now();
    try {
      ({ message: stored, duplicate } = await this.d.storage.appendMessage(msg, {
        firstAttempt: f.attempt === 1,
      }));
      // Recorded again on a resend (idempotent): the first attempt may have died before it.
      if (stored.threadRoot !== undefined && stored.threadRoot !== null) {
        root = await this.d.storage.addThreadReply(stored);
        if (!root) throw new Error(`thread root ${stored.threadRoot} not stored`);
      }
    } catch (cause) {
      slot.cancel();
      throw unavailable('message could not be stored; resend with the same clientMsgId', cause);
    }
    this.d.metrics.storeLatency.observe((performance.now() - t0) / 1000);
    const recipients = [...members.members];
    // Made visible first: a late one (a resend long after the first attempt) is recorded in the
    // late index before anyone can see it, so a replay by position finds it. Then one presence
    // lookup, after the message is stored and visible, says where every recipient is connected:
    // it routes the fan-out (one publish per other gateway holding recipients) and decides the
    // offline queue. A recipient it misses connected after it, so their replay reads the store
    // after the message was there (docs/architecture.md, "Why the connect order matters").
    // Offline members are queued before the sender is acked: an ack means every recipient will
    // get the message, even if this process dies right after sending it. For a duplicate this
    // repeats (idempotently) what a first attempt that died half-way may not have finished.
    const path = duplicate ? 'resend' : 'send';
    let queued: string[];
    let visibleAt: number;
    let where: Whereabouts;
    let refs: Refs | undefined;
    try {
      visibleAt = await this.d.visibility.markVisible(stored, path);
      where = await this.d.hub.locate(recipients);
      queued = await this.queueForOffline(recipients, stored, where);
      // The quote and the root's count as they are now (a resend's stored reply names its own
      // parent, read if it is not the one checked above).
      if (root) refs = await readRefs(this.d.storage, [stored], parent ? [parent, root] : [root]);
    } catch (cause) {
      slot.cancel();
      throw unavailable('message stored but not yet queued; resend with the same clientMsgId', cause);
    }
    if (duplicate) this.d.metrics.duplicates.inc();
    else this.d.metrics.messagesStored.inc();
    // A duplicate is fanned out again like a new send: its first attempt may have stored it and
    // died before the fan-out (or failed to publish it to other regions). Clients drop repeats by id.
    slot.complete(() => {
      const routed = liveMessage(
        toWire(stored, refs),
        this.d.visibility.positionAtFanOut(stored, visibleAt, path),
      );
      this.d.tasks.background(
        'fanout',
        this.d.hub.fanOut(recipients, routed, state.conn.connectionId, where),
      );
      if (queued.length > 0) this.d.tasks.background('offline', this.liveCopyIfOnlineNow(queued, routed));
    });
    return {
      op: 'sent',
      id: f.id,
      messageId: stored.messageId.toString(),
      conversationId: stored.conversationId,
      createdAt: stored.createdAt,
      duplicate,
      ...(root?.thread ? { threadRoot: root.messageId.toString(), rootThread: wireThread(root.thread) } : {}),
    };
  }

  /**
   * The attachments a `send` references, checked: each committed, uploaded by the sender, to this
   * conversation. Anything else is `not_found` for that id (nobody learns of others' files).
   */
  private async attachmentsOf(f: ParsedRequestOf<'send'>, userId: string): Promise<AttachmentRef[]> {
    const ids = f.attachments ?? [];
    if (ids.length > this.d.attachments.maxPerMessage) {
      throw new ChatError(ErrorCode.InvalidField, `at most ${this.d.attachments.maxPerMessage} attachments`, {
        field: 'attachments',
      });
    }
    let metas: (AttachmentMeta | null)[];
    try {
      metas = await Promise.all(ids.map((id) => this.d.storage.attachments.get(id)));
    } catch (cause) {
      throw unavailable('attachments could not be read; resend with the same clientMsgId', cause);
    }
    return metas.map((meta, i) => {
      if (!meta || meta.conversationId !== f.conversationId || meta.uploaderId !== userId) {
        throw new ChatError(ErrorCode.NotFound, 'no such attachment', {
          field: 'attachments',
          attachmentId: ids[i] ?? '',
        });
      }
      return toRef(meta);
    });
  }

  /**
   * The message a send replies to: one of the same conversation (a message elsewhere, or a change
   * record, is `not_found`: ids of other conversations are not probed). A deleted one may be
   * replied to (its thread stays, quoted as deleted): refusing it would also refuse the resend of
   * a reply stored before the delete, which must be answered `duplicate`.
   */
  private async parentOf(conversationId: string, id: bigint): Promise<StoredMessage> {
    let parent: StoredMessage | null;
    try {
      parent = await this.d.storage.getMessage(conversationId, id);
    } catch (cause) {
      throw unavailable('store unavailable; retry', cause);
    }
    if (!parent || parent.change) throw new ChatError(ErrorCode.NotFound, 'replyTo: no such message');
    return parent;
  }

  /**
   * Queues the message for members with no live connection anywhere (`where`: their lookup, made
   * after the message was stored); returns who was queued.
   */
  async queueForOffline(members: string[], msg: StoredMessage, where: Whereabouts): Promise<string[]> {
    const isHome = this.d.isHome;
    const offline = members.filter(
      (u) => !this.d.hub.hasLocal(u) && !where.elsewhere.has(u) && (!isHome || isHome(u)),
    );
    if (offline.length === 0) return [];
    await Promise.all(offline.map((u) => this.d.storage.enqueueOffline(u, [msg])));
    this.d.metrics.offlineEnqueued.inc(offline.length);
    return offline;
  }

  /**
   * After queueing, presence is checked again: a member who connected in between may have drained
   * the queue before the entry landed, so they also get a live copy (clients dedup by id), here
   * or on the gateway they connected to.
   */
  async liveCopyIfOnlineNow(queued: string[], routed: Routed): Promise<void> {
    const now = await this.d.hub.locate(queued);
    await this.d.hub.fanOut(queued, routed, undefined, now);
  }
}

function unavailable(message: string, cause: unknown): ChatError {
  return new ChatError(ErrorCode.Unavailable, message, undefined, { cause });
}
