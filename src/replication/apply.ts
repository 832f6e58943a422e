/**
 * The applying side: other regions' events, read from this region's inbox, are written to the
 * region's own store (idempotently, never republished) and handed to a `ReplicationSink` that
 * delivers them to the region's users.
 */

import type { HomeMoveEvent } from '../homes/events.ts';
import { isSessionsEnd } from '../routing/sessions-end.ts';
import type { SessionsEnd } from '../routing/types.ts';
import { fromRecord } from '../storage/common.ts';
import { type ErasureRequest, newerErasure } from '../storage/retention.ts';
import type { Conversation, Storage, StoredMessage } from '../storage/types.ts';
import type { StreamEraser } from './erase.ts';
import type { ConversationEvent, ReplicationEvent } from './events.ts';

/** Where an event sits in this region's inbox, and the content it carries (`link.ts`, `EventMeta`). */
export interface InboxPlace {
  seq: number;
  item: string | null;
}

/** What the gateway does with an applied event: deliver it to its users (`sink.ts`). */
export interface ReplicationSink {
  /**
   * The conversation's members for delivering a message or receipt: the gateway answers from its
   * membership cache (which replicated membership changes invalidate, `deliverConversation`), as
   * for a local send, saving a store read per event. Without it the store is asked.
   */
  membersOf?(conversationId: string): Promise<string[]>;
  deliverMessage(message: StoredMessage, members: string[]): Promise<void>;
  deliverConversation(
    conversation: Conversation,
    members: string[],
    event: ConversationEvent,
    audience: string[],
  ): Promise<void>;
  deliverReceipt(userId: string, conversationId: string, messageId: bigint, members: string[]): Promise<void>;
  /**
   * A revocation (already stored here) or a disconnect from another region: close the user's
   * sessions it covers on every gateway of this region.
   */
  endSessions?(end: SessionsEnd): Promise<void>;
  /** An edit or delete applied here: `target` is the target's state after the merge. */
  deliverChange(record: StoredMessage, target: StoredMessage, members: string[]): Promise<void>;
  /**
   * A moderation change applied here: the gateway drops what it cached of it (in the region's
   * other gateways too) and, for a role, tells the group's members. Absent: nothing cached.
   */
  moderationChanged?(scope: ModerationScope): Promise<void>;
}

/** What a replicated moderation change touched. */
export type ModerationScope =
  | { kind: 'roles' | 'bans'; conversationId: string }
  | { kind: 'blocks'; userId: string };

/** A bounded set of ids: past `max`, the oldest remembered is forgotten. */
class RecentIds {
  private readonly set = new Set<string>();
  constructor(private readonly max: number) {}
  has(id: string): boolean {
    return this.set.has(id);
  }
  remember(id: string): void {
    this.set.add(id);
    if (this.set.size > this.max) {
      const oldest = this.set.values().next().value;
      if (oldest !== undefined) this.set.delete(oldest);
    }
  }
}

export class Applier {
  /**
   * Applied event ids: a redelivery of an event that was applied and delivered in full skips the
   * live fan-out. An id is remembered only after its apply succeeded, so an event whose apply or
   * delivery failed is delivered in full when it comes again.
   */
  private readonly recent = new RecentIds(50_000);
  /**
   * Conversations known to exist in the store (none is ever deleted): their messages skip the
   * existence read, one store read per replicated message fewer.
   */
  private readonly known = new RecentIds(100_000);
  /**
   * Messages deleted here before their own event arrived (a third region's delete overtook it):
   * their event, when it comes, is erased from the inbox once applied. Kept in memory only: one
   * that comes after this gateway restarted stays in the inbox until the stream's age limit.
   */
  private readonly deletedAhead = new RecentIds(50_000);

  /**
   * Runs a replicated erasure request in this region (`src/retention/erasure.ts`), set by the
   * gateway before replication starts; a request arriving without one is retried until it is.
   */
  eraseHandler: ((req: ErasureRequest) => Promise<void>) | null = null;

  /** Applies a home-region move's event (`src/homes/`); an event arriving without one is retried. */
  homeMoveHandler: ((ev: HomeMoveEvent) => Promise<void>) | null = null;

  /**
   * `storage` is the region's own store: applying writes here directly, never republishing.
   * `eraser` removes deleted content's events from the region's streams (null: no streams, tests).
   */
  constructor(
    private readonly storage: Storage,
    private readonly eraser: StreamEraser | null = null,
  ) {}

  /**
   * Applies one event and delivers it. Throws when either fails; the caller leaves the event
   * unacknowledged and it comes again, then delivered in full (clients drop repeats by id).
   * `eventId` is the same for every copy of the event, whichever region published it: a copy a
   * second region republished is applied again (idempotently) but not fanned out again.
   */
  async apply(
    e: ReplicationEvent,
    eventId: string,
    sink: ReplicationSink,
    place: InboxPlace | null = null,
  ): Promise<void> {
    const again = eventId !== '' && this.recent.has(eventId);
    const overDeleted = await this.applyOnce(e, again, sink);
    // Content that arrived after its delete had been applied here: the delete's erase could not
    // see it, so it goes now (before the ack: a failure retries the event, idempotently).
    if (overDeleted && place?.item && this.eraser) await this.eraser.inboxEvent(place.seq);
    if (eventId !== '') this.recent.remember(eventId);
  }

  /**
   * A replicated change applied to this region's row: a reaction is its own register (from the
   * record: emoji, who, on or off, revision); an edit or delete merges the state the origin left.
   */
  private applyRecord(record: StoredMessage, target: StoredMessage): Promise<StoredMessage | null> {
    const change = record.change;
    if (!change) throw new Error(`event x:${record.messageId} carries no change`);
    if (change.kind === 'react' || change.kind === 'unreact') {
      if (change.emoji === undefined) throw new Error(`reaction ${record.messageId} carries no emoji`);
      return this.storage.applyReaction({
        conversationId: record.conversationId,
        targetId: change.targetId,
        emoji: change.emoji,
        userId: record.senderId,
        on: change.kind === 'react',
        revision: record.messageId,
      });
    }
    if (!target.state) throw new Error(`change ${record.messageId} carries no state`);
    return this.applyState(target);
  }

  /**
   * A delete whose target this region never received: the origin may have erased the target's
   * events from its outbox before this region read them, so waiting for them could be forever.
   * The target's place is stored as the tombstone the delete carries (its state, no body); a
   * copy of the message arriving later merges into it and stays deleted. Null for other changes.
   */
  private async deleteAhead(target: StoredMessage): Promise<StoredMessage | null> {
    if (!target.state?.deleted) return null;
    if (
      !this.known.has(target.conversationId) &&
      !(await this.storage.getConversation(target.conversationId))
    )
      return null;
    const { attachments: _none, ...tombstone } = target;
    await this.storage.putReplica({ ...tombstone, body: '' });
    this.deletedAhead.remember(target.messageId.toString());
    return this.applyState(target);
  }

  /** Merges a replicated message state into this region's row; null when the row is missing. */
  private applyState(target: StoredMessage): Promise<StoredMessage | null> {
    return this.storage.applyChange({
      conversationId: target.conversationId,
      targetId: target.messageId,
      state: target.state!,
      body: target.body,
    });
  }

  /**
   * A replicated reply joins its root's thread here. Its parent and root may come from a third
   * region's stream and not be here yet: then the apply throws and is retried in place, as for a
   * change that overtook its target (the reply is stored already; recording it is idempotent).
   */
  private async recordReply(reply: StoredMessage): Promise<void> {
    if (!(await this.storage.getMessage(reply.conversationId, reply.replyTo!)))
      throw new Error(`parent ${reply.replyTo} of reply ${reply.messageId} not replicated yet`);
    if (!(await this.storage.addThreadReply(reply)))
      throw new Error(`root ${reply.threadRoot} of reply ${reply.messageId} not replicated yet`);
  }

  /** Stores a moderation change (a register: any order, any number of times) and tells the sink. */
  private async applyModeration(
    e: Extract<ReplicationEvent, { k: 'mr' | 'mb' | 'mk' }>,
    again: boolean,
    sink: ReplicationSink,
  ): Promise<void> {
    const m = this.storage.moderation;
    const revision = BigInt(e.rev);
    let scope: ModerationScope;
    if (e.k === 'mr') {
      await m.setRole({ conversationId: e.conversationId, userId: e.userId, role: e.role, revision });
      scope = { kind: 'roles', conversationId: e.conversationId };
    } else if (e.k === 'mb') {
      const { conversationId, userId, banned, by } = e;
      await m.setBan({ conversationId, userId, banned, by, revision });
      scope = { kind: 'bans', conversationId };
    } else {
      await m.setBlock({ userId: e.userId, targetId: e.targetId, blocked: e.blocked, revision });
      scope = { kind: 'blocks', userId: e.userId };
    }
    // A repeat still invalidates: cheap, and the first copy's may have been lost with a gateway.
    if (sink.moderationChanged && (!again || scope.kind !== 'roles')) await sink.moderationChanged(scope);
  }

  private membersOf(conversationId: string, sink: ReplicationSink): Promise<string[]> {
    return sink.membersOf ? sink.membersOf(conversationId) : this.storage.listMembers(conversationId);
  }

  /** Applies and delivers one event; true when it carried content for a message deleted here. */
  private async applyOnce(e: ReplicationEvent, again: boolean, sink: ReplicationSink): Promise<boolean> {
    switch (e.k) {
      case 'm': {
        const message = fromRecord(e.msg);
        // The conversation's `created` event comes first in the stream of the region that created
        // it, but a message written from another region comes through that region's stream and
        // can arrive first: retry until it is there (events are keyed per origin, so the retry
        // does not hold up the `created` event: link.ts, applyKey). Within one origin, a redelivered
        // `created` (its first delivery died with a gateway) comes after later messages: it goes
        // ahead of its key's held events (`KeyedTask.opensKey`).
        if (!this.known.has(message.conversationId)) {
          if (!(await this.storage.getConversation(message.conversationId))) {
            throw new Error(`conversation ${message.conversationId} not replicated yet`);
          }
          this.known.remember(message.conversationId);
        }
        await this.storage.putReplica(message);
        // A message republished after it was edited or deleted carries that state: merge it.
        if (message.state) await this.applyState(message);
        if (message.replyTo !== undefined && message.replyTo !== null) await this.recordReply(message);
        if (!again) await sink.deliverMessage(message, await this.membersOf(message.conversationId, sink));
        return this.deletedAhead.has(message.messageId.toString());
      }
      case 'x': {
        const record = fromRecord(e.change);
        const target = fromRecord(e.target);
        // Applied after its target only: a change from one region may overtake the message from
        // another (after an outage). Retried in place like a message whose conversation has not
        // arrived (keyed by origin, so the message's own stream is not held up); merging the
        // state when the target arrives would need a row for a message this region lacks.
        const applied = (await this.applyRecord(record, target)) ?? (await this.deleteAhead(target));
        if (!applied)
          throw new Error(`target ${e.target.messageId} of change ${e.change.messageId} not replicated yet`);
        // The record itself joins this region's stream: a replay by position finds it, and a
        // resend of the change to this region (failover) is recognised by its clientMsgId.
        await this.storage.putReplica(record);
        if (!again)
          await sink.deliverChange(record, applied, await this.membersOf(record.conversationId, sink));
        // The delete itself: erase the content's events from this region's streams (the target's
        // own, its edits', reactions' carrying it, this region's outbox copies included).
        if (target.state?.deleted && this.eraser) await this.eraser.messages([applied]);
        return applied.state?.deleted === true;
      }
      case 'c': {
        const initial = e.event === 'created' ? e.changed : [];
        await this.storage.createConversation(e.conv, initial);
        this.known.remember(e.conv.id);
        if (e.event === 'members_added' && e.changed.length > 0)
          await this.storage.addMembers(e.conv.id, e.changed);
        if (e.event === 'members_removed' && e.changed.length > 0) {
          await this.storage.removeMembers(e.conv.id, e.changed);
        }
        if (!again) {
          const members = await this.storage.listMembers(e.conv.id);
          // The removed hear about their removal too.
          const audience = e.event === 'members_removed' ? [...new Set([...members, ...e.changed])] : members;
          await sink.deliverConversation(e.conv, members, e.event, audience);
        }
        return false;
      }
      // Attachments are stored, not delivered: the message that references one delivers it.
      case 'ac':
        await this.storage.attachments.putChunk(e.up, e.i, Buffer.from(e.data, 'base64'));
        return false;
      case 'am':
        await this.storage.attachments.commit(e.up, e.meta);
        return false;
      case 'ax':
        await this.storage.attachments.discard(e.up);
        return false;
      case 'xe':
        // A note this region left itself: the erase it could not do then, done now (or retried).
        if (this.eraser) await this.eraser.now(e.items);
        return false;
      case 'ad': {
        const attachments = this.storage.attachments;
        const found = await Promise.all(e.ids.map(async (id) => ({ id, meta: await attachments.get(id) })));
        await attachments.delete(e.conversationId, e.ids);
        if (this.eraser) await this.eraser.attachments(found);
        return false;
      }
      case 'se': {
        if (!isSessionsEnd(e.end)) throw new Error('malformed sessions-ended event');
        if (e.end.kind === 'revoked') await this.storage.revocations.add(e.end.revocation);
        if (!again) await sink.endSessions?.(e.end);
        return false;
      }
      case 'mr':
      case 'mb':
      case 'mk':
        await this.applyModeration(e, again, sink);
        return false;
      // Stored, not delivered: only the offline hook reads it.
      case 'mu':
        await this.storage.mutes.set(e.mute);
        return false;
      case 'rt':
        // Throws while the conversation is not here yet: retried in place like its messages.
        await this.storage.retention.setConversationRetention(e.conversationId, e.seconds, e.at);
        return false;
      case 'er':
        if (!this.eraseHandler) throw new Error(`erasure ${e.req.requestId}: no erasure handler yet`);
        await this.eraseHandler(e.req);
        return false;
      case 'ed': {
        const { requestId, region } = e.record;
        const held = (await this.storage.retention.getErasures(requestId)).find((r) => r.region === region);
        const keep = newerErasure(held ?? null, e.record);
        if (keep !== held) await this.storage.retention.putErasure(keep);
        return false;
      }
      case 'hm':
        if (!this.homeMoveHandler) throw new Error('home move event: no handler yet');
        await this.homeMoveHandler(e.ev);
        return false;
      case 'r': {
        const id = BigInt(e.messageId);
        await this.storage.markRead(e.userId, e.conversationId, id);
        if (!again) {
          await sink.deliverReceipt(
            e.userId,
            e.conversationId,
            id,
            await this.membersOf(e.conversationId, sink),
          );
        }
        return false;
      }
    }
  }
}
