/**
 * Presence and typing: `presence` (a snapshot), `subscribePresence` / `unsubscribePresence`
 * (through `PresenceWatchers`, with events held while the snapshot is read), `setAway`, and
 * `typing` with its per-connection throttle. Typing is ephemeral: never stored or queued.
 */
import type { PresenceInfo } from '../../presence/types.ts';
import {
  directParticipants,
  type ParsedRequestOf,
  type PresenceResult,
  type ReplyOf,
} from '../../protocol/index.ts';
import type { ConnectionState } from '../connection.ts';
import { resultFrame, routedEvent, typingFrame } from '../frames.ts';
import type { Conversations } from './conversations.ts';
import type { HandlersFor, OpsContext } from './types.ts';

/** Past this many conversations in a connection's typing throttle, stale entries are swept. */
const TYPING_SWEEP_AT = 64;

export type PresenceOp = 'presence' | 'subscribePresence' | 'unsubscribePresence' | 'setAway' | 'typing';

export class PresenceOps {
  constructor(
    private readonly d: OpsContext,
    private readonly conversations: Conversations,
  ) {}

  readonly handlers: HandlersFor<PresenceOp> = {
    presence: async (_state, f) => {
      const infos = await this.d.presence.getPresence(f.userIds);
      return resultFrame(f.op, f.id, presenceResult(f.userIds, infos));
    },
    subscribePresence: (state, f) => this.subscribe(state, f),
    unsubscribePresence: async (state, f) => {
      this.d.watchers.remove(state, f.userIds);
      return resultFrame(f.op, f.id, { ok: true });
    },
    setAway: async (state, f) => {
      await this.d.presence.setAway(state.conn.userId, state.conn.connectionId, f.away);
      return resultFrame(f.op, f.id, { ok: true });
    },
    typing: (state, f) => this.typing(state, f),
  };

  /**
   * Subscribes, then reads a snapshot. Events for this connection are held from before the
   * read until the reply is out, so the client never sees the snapshot after a newer event.
   */
  private async subscribe(
    state: ConnectionState,
    f: ParsedRequestOf<'subscribePresence'>,
  ): Promise<ReplyOf<'subscribePresence'>> {
    const added = this.d.watchers.add(state, f.userIds);
    this.d.watchers.hold(state);
    try {
      const infos = await this.d.presence.getPresence(f.userIds);
      return resultFrame(f.op, f.id, presenceResult(f.userIds, infos));
    } catch (err) {
      this.d.watchers.remove(state, added);
      throw err;
    } finally {
      // The transport sends the reply in this promise's continuation (a microtask); a
      // macrotask runs only after it, so held events follow the snapshot.
      setImmediate(() => this.d.watchers.release(state));
    }
  }

  /**
   * Fans a typing indicator out to the members' connections (except this one). At most one per
   * conversation per `typingIntervalMs` per connection; extra ones are coalesced into the one
   * already sent (its `expiresAt` covers them) and answered like a delivered one, with
   * `coalesced: true`.
   */
  private async typing(
    state: ConnectionState,
    f: ParsedRequestOf<'typing'>,
  ): Promise<ReplyOf<'typing'> | null> {
    const { typingIntervalMs, typingTtlMs } = this.d.limits;
    const now = Date.now();
    const typingAt = state.typingTimes();
    const last = typingAt.get(f.conversationId);
    if (last !== undefined && now - last < typingIntervalMs) {
      return f.id === null
        ? null
        : resultFrame(f.op, f.id, { ok: true, coalesced: true, expiresAt: last + typingTtlMs });
    }
    const userId = state.conn.userId;
    // A direct conversation's members are in its id; typing the first message of one must show
    // before `send` creates it, and typing never creates it.
    const dm = directParticipants(f.conversationId);
    const members =
      dm && (dm[0] === userId || dm[1] === userId)
        ? dm
        : [...(await this.conversations.requireMember(f.conversationId, userId)).members];
    if (typingAt.size >= TYPING_SWEEP_AT) {
      for (const [conv, at] of typingAt) if (now - at >= typingIntervalMs) typingAt.delete(conv);
    }
    typingAt.set(f.conversationId, now);
    const expiresAt = now + typingTtlMs;
    const routed = routedEvent(typingFrame(f.conversationId, userId, expiresAt));
    this.d.tasks.background('typing', this.d.hub.fanOut(members, routed, state.conn.connectionId));
    return f.id === null ? null : resultFrame(f.op, f.id, { ok: true, coalesced: false, expiresAt });
  }
}

/** In the order asked; `Presence.getPresence` answers for every user asked (unknown ones offline). */
function presenceResult(userIds: string[], infos: Map<string, PresenceInfo>): PresenceResult {
  return { users: userIds.map((u) => infos.get(u)!) };
}
