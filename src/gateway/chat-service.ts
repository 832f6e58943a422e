/**
 * The chat operations, independent of transport: what the transports (through `Sessions`), the
 * gateway and replication call. A thin facade over the handler table in `ops/`: both the raw
 * WebSocket endpoint and the Socket.IO endpoint call `handle` with a parsed frame and send back
 * what it returns.
 */
import type { ParsedClientFrame, ReplyFrame, SyncedFrame } from '../protocol/index.ts';
import type { StoredMessage } from '../storage/types.ts';
import type { ConnectionState } from './connection.ts';
import { createOperations, dispatch, type Operations, type OpsDeps } from './ops/index.ts';
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
