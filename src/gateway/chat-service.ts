/**
 * The chat operations, independent of transport: what the transports (through `Sessions`), the
 * gateway and replication call. A thin facade over the handler table in `ops/`: both the raw
 * WebSocket endpoint and the Socket.IO endpoint call `handle` with a parsed frame and send back
 * what it returns.
 */
import {
  type ConversationFrame,
  directConversationId,
  type ParsedClientFrame,
  type ParsedRequestOf,
  type ReplyFrame,
  type ReplyOf,
  type SyncedFrame,
  type WireConversation,
} from '../protocol/index.ts';
import type { StoredMessage } from '../storage/types.ts';
import type { ConnectionState } from './connection.ts';
import { wireConversation } from './frames.ts';
import { adminsOf, type CachedMembers, entryFrame, wireEntry } from './ops/conversations.ts';
import { createOperations, dispatch, type Operations, type OpsDeps } from './ops/index.ts';
import type { ModerationOps } from './ops/moderation.ts';
import type { ReplayFrom } from './ops/replay.ts';

export type ChatServiceDeps = OpsDeps;

export class ChatService {
  private readonly ops: Operations;

  constructor(deps: ChatServiceDeps) {
    this.ops = createOperations(deps);
  }

  /** Handles one request frame; returns the reply frame, or null for frames with no reply. */
  handle(state: ConnectionState, frame: ParsedClientFrame): Promise<ReplyFrame | null> {
    return dispatch(this.ops.table, state, frame);
  }

  /**
   * The replay a connection starts with (`requestId` null) or asks for with `sync`, from its
   * resume position (or legacy `since`). Also what a server-side resync of an open connection
   * calls, with the connection's last position.
   */
  sync(state: ConnectionState, from: ReplayFrom, requestId: string | null): Promise<SyncedFrame> {
    return this.ops.replay.replay(state, from, requestId);
  }

  /** Forgets the cached members of a conversation another gateway or region changed. */
  invalidateMembers(conversationId: string): void {
    this.ops.conversations.invalidate(conversationId);
  }

  /** Moderation as the server API calls it (`src/api/routes/moderation.ts`). */
  get moderation(): ModerationOps {
    return this.ops.moderation;
  }

  /** A conversation entry as the wire shows it. */
  wire(entry: CachedMembers): WireConversation {
    return wireEntry(entry);
  }

  /** Forgets the cached block list of a user whose blocks another gateway or region changed. */
  invalidateBlocks(userId: string): void {
    this.ops.blocks.invalidate(userId);
  }

  /** The group's admins as stored now (the cache refilled): for replicated conversation frames. */
  async adminsOf(conversationId: string): Promise<string[]> {
    const entry = await this.ops.conversations.reload(conversationId);
    return entry ? adminsOf(entry) : [];
  }

  /** The conversation as stored now (the cache refilled) as a `conversation` frame, with its members; null if unknown. */
  async conversationFrameOf(
    conversationId: string,
    event: ConversationFrame['event'],
  ): Promise<{ frame: ConversationFrame; members: string[] } | null> {
    const entry = await this.ops.conversations.reload(conversationId);
    return entry ? { frame: entryFrame(entry, event), members: [...entry.members] } : null;
  }

  /** A conversation's members, from the membership cache (replication's deliveries). */
  membersOf(conversationId: string): Promise<string[]> {
    return this.ops.conversations.membersOf(conversationId);
  }

  /**
   * Resolves if the user may use the conversation (a member; or one of a direct conversation's
   * two users, which creates it on first use), else throws `not_found`. Attachment uploads ask.
   */
  async requireParticipant(conversationId: string, userId: string): Promise<void> {
    await this.ops.conversations.requireParticipant(conversationId, userId);
  }

  // ---- the server API's operations (src/api/routes): the same paths as the client's ops ----

  /** A `send` as `state`'s user, or (`system`) as the deployment into any existing conversation. */
  post(state: ConnectionState, frame: ParsedRequestOf<'send'>, system: boolean): Promise<ReplyOf<'send'>> {
    return this.ops.messages.post(state, frame, system);
  }

  /** An operator's edit or delete of any message. */
  adminChange(state: ConnectionState, frame: ParsedRequestOf<'edit' | 'delete'>): Promise<ReplyOf<'edit'>> {
    return this.ops.changes.adminChange(state, frame);
  }

  /** A group created by an operator or app backend (`id` given: idempotent). */
  createGroupAs(
    createdBy: string,
    title: string,
    members: readonly string[],
    id?: string,
  ): Promise<WireConversation> {
    return this.ops.conversations.createGroupAs(createdBy, title, members, id);
  }

  /** The direct conversation of two users, created on first use. */
  async openDirect(a: string, b: string): Promise<WireConversation> {
    const c = await this.ops.conversations.ensureDirect(directConversationId(a, b), a);
    return wireConversation(c.conversation, c.members, []);
  }

  /** An operator's membership change (no membership or creator check). */
  adminChangeMembers(frame: ParsedRequestOf<'addMembers' | 'removeMembers'>): Promise<WireConversation> {
    return this.ops.conversations.adminChangeMembers(frame);
  }

  /** A conversation's history page, for an operator (`not_found` if it does not exist). */
  async adminHistory(frame: ParsedRequestOf<'history'>): Promise<ReplyOf<'history'>> {
    await this.ops.conversations.requireExisting(frame.conversationId);
    return this.ops.conversations.history(frame);
  }

  /** `requireParticipant` for writing (an upload): `blocked` in a DM whose other user blocks this one. */
  async requireSender(conversationId: string, userId: string): Promise<void> {
    await this.ops.conversations.requireSender(conversationId, userId);
  }

  /** Delivers a message another region stored (replication): live here, queued if offline. */
  deliverReplicated(message: StoredMessage, members: string[]): Promise<void> {
    return this.ops.messages.deliverReplicated(message, members);
  }

  /** An edit or delete another region made, applied here (`target`: the row's state now). */
  deliverReplicatedChange(record: StoredMessage, target: StoredMessage, members: string[]): Promise<void> {
    return this.ops.changes.deliverReplicated(record, target, members);
  }

  /**
   * Stop taking new sends (SIGTERM) and wait for the ones in flight, at most `timeoutMs`;
   * resolves with how many were still in flight then.
   */
  drain(timeoutMs: number): Promise<number> {
    return this.ops.tasks.drain(timeoutMs);
  }
}
