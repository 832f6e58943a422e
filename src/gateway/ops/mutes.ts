/**
 * `mute` / `unmute`: a member's setting that a conversation's messages wake none of their
 * devices (no `message.offline` webhook). Stored per user (`storage.mutes`), replicated through
 * the gateway's store so the user's home region, which emits the offline hook, knows it.
 */
import { ChatError, ErrorCode } from '../../errors.ts';
import { type ParsedRequestOf, type ReplyOf, resultFrame } from '../../protocol/index.ts';
import type { ConnectionState } from '../connection.ts';
import type { Conversations } from './conversations.ts';
import type { HandlersFor, OpsContext } from './types.ts';

export class MuteOps {
  constructor(
    private readonly d: OpsContext,
    private readonly conversations: Conversations,
  ) {}

  readonly handlers: HandlersFor<'mute' | 'unmute'> = {
    mute: (state, f) => this.set(state, f),
    unmute: (state, f) => this.set(state, f),
  };

  private async set(
    state: ConnectionState,
    f: ParsedRequestOf<'mute' | 'unmute'>,
  ): Promise<ReplyOf<'mute' | 'unmute'>> {
    const userId = state.conn.userId;
    await this.conversations.requireParticipant(f.conversationId, userId);
    let stands: { muted: boolean };
    try {
      stands = await this.d.storage.mutes.set({
        userId,
        conversationId: f.conversationId,
        muted: f.op === 'mute',
        at: Date.now(),
      });
    } catch (cause) {
      throw new ChatError(ErrorCode.Unavailable, 'mute could not be stored; retry', undefined, { cause });
    }
    return resultFrame(f.op, f.id, { conversationId: f.conversationId, muted: stands.muted });
  }
}
