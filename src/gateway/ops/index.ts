/**
 * The operations, assembled: one handler per client op, grouped by concern, in one typed table
 * (`HandlerTable`: a missing op or a wrong reply fails to compile), and `dispatch`, which hands a
 * validated request to its handler. To add an operation see docs/architecture.md, "Adding an
 * operation".
 */
import type { ClientOp, ParsedClientFrame } from '../../protocol/index.ts';
import type { ConnectionState } from '../connection.ts';
import { BlockCache } from './block-cache.ts';
import { Changes } from './changes.ts';
import { Conversations } from './conversations.ts';
import { Messages } from './messages.ts';
import { ModerationOps } from './moderation.ts';
import { MuteOps } from './mutes.ts';
import { PresenceOps } from './presence.ts';
import { Replay } from './replay.ts';
import { SearchOps } from './search.ts';
import { Tasks } from './tasks.ts';
import { ThreadOps } from './threads.ts';
import type { AnswerOf, Handler, HandlerTable, OpsDeps } from './types.ts';
import { Visibility } from './visibility.ts';

export type { AnswerOf, Handler, HandlerTable, OpsDeps } from './types.ts';

/** The handler table and the concerns whose state lives beyond a request. */
export interface Operations {
  table: HandlerTable;
  tasks: Tasks;
  messages: Messages;
  changes: Changes;
  conversations: Conversations;
  replay: Replay;
  /** Roles, bans and blocks (also what the server API calls). */
  moderation: ModerationOps;
  /** Whom users block, cached for `send` in DMs; invalidated by block changes from anywhere. */
  blocks: BlockCache;
}

export function createOperations(deps: OpsDeps): Operations {
  const tasks = new Tasks(deps.metrics, deps.log);
  const visibility = new Visibility(deps.storage, deps.region, deps.resume.lookbackMs, deps.metrics, tasks);
  const ctx = { ...deps, tasks, visibility };
  const blocks = new BlockCache(deps.storage, deps.limits.membershipCacheMs);
  const conversations = new Conversations(ctx, blocks);
  const messages = new Messages(ctx, conversations);
  const changes = new Changes(ctx, conversations, messages);
  const replay = new Replay(ctx);
  const presence = new PresenceOps(ctx, conversations);
  const search = new SearchOps(ctx, conversations);
  const threads = new ThreadOps(ctx, conversations);
  const moderation = new ModerationOps(ctx, conversations, blocks);
  const mutes = new MuteOps(ctx, conversations);
  const table: HandlerTable = {
    ...messages.handlers,
    ...changes.handlers,
    ...replay.handlers,
    ...conversations.handlers,
    ...presence.handlers,
    ...search.handlers,
    ...threads.handlers,
    ...moderation.handlers,
    ...mutes.handlers,
    ping: async (_state, f) => ({ op: 'pong', id: f.id, serverTime: Date.now() }),
  };
  return { table, tasks, messages, changes, conversations, replay, moderation, blocks };
}

/** Hands a request to its op's handler; resolves with the reply (null: none is sent). */
export function dispatch(
  table: HandlerTable,
  state: ConnectionState,
  frame: ParsedClientFrame,
): Promise<AnswerOf<ClientOp>> {
  // TypeScript cannot correlate `table[frame.op]` with `frame` across the union of ops; the
  // table's type guarantees each entry takes its own op's request, so the widening is safe.
  const handler = table[frame.op] as Handler<ClientOp>;
  return handler(state, frame);
}
