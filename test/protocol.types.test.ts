/**
 * Compile-time checks, run by `npm test`'s typecheck: the replies the gateway builds and what the
 * SDK promises its callers come from one definition (src/protocol). If a reply changes on one side
 * only — a field renamed in the server's reply, an SDK method declaring its own result type, a
 * request field added to the wire shape but not the parsed one — this file stops compiling. At
 * run time it only reports that it compiled.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type * as Sdk from '../src/client/index.ts';
import type { ChatService } from '../src/gateway/chat-service.ts';
import type { AnswerOf, HandlerTable } from '../src/gateway/ops/index.ts';
import type { PresenceInfo } from '../src/presence/types.ts';
import type {
  CLIENT_OPS,
  ClientFrame,
  ClientOp,
  CloseCode,
  ErrorCode,
  ParsedClientFrame,
  ParsedRequestOf,
  ReplyFrame,
  ReplyOf,
  ReplyOp,
  RequestOf,
  ResultOf,
  ResultOp,
  resultFrame,
  ServerFrame,
  WirePresence,
} from '../src/protocol/index.ts';
import type { CallResult } from './helpers/client.ts';

/** Mutually assignable: the same shape, whatever the declarations look like. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compiles only for `true`. */
type Assert<T extends true> = T;

/** What an SDK method resolves with. */
type Resolves<K extends keyof Sdk.ChatClient> = Sdk.ChatClient[K] extends (
  ...args: never[]
) => Promise<infer R>
  ? R
  : never;

// ---- the operations are the same everywhere -------------------------------------------------

export type OpsChecks = [
  // The wire and parsed client frames list the same ops, and the validator's list has them all.
  Assert<Same<ClientFrame['op'], ParsedClientFrame['op']>>,
  Assert<Same<(typeof CLIENT_OPS)[number], ClientOp>>,
  // Every op but `ack` is answered; the others besides send, sync and ping answer with `result`.
  Assert<Same<ReplyOp, Exclude<ClientOp, 'ack'>>>,
  Assert<Same<ResultOp, Exclude<ReplyOp, 'send' | 'sync' | 'ping'>>>,
  // Per op, the wire and parsed frames have the same fields (types differ: ids, optional vs null).
  Assert<Same<{ [Op in ClientOp]: Same<keyof RequestOf<Op>, keyof ParsedRequestOf<Op>> }[ClientOp], true>>,
];

// ---- the server replies with the protocol's frames ------------------------------------------

export type ServerChecks = [
  // `ChatService.handle` answers with exactly the reply frames, not any frame or `data: unknown`.
  Assert<Same<Awaited<ReturnType<ChatService['handle']>>, ReplyFrame | null>>,
  // The handler table has one handler per op, answering with that op's reply frame.
  Assert<Same<keyof HandlerTable, ClientOp>>,
  Assert<Same<AnswerOf<ClientOp>, ReplyFrame | null>>,
  Assert<Same<Awaited<ReturnType<HandlerTable['history']>>, ReplyOf<'history'>>>,
  Assert<Same<Parameters<HandlerTable['history']>[1], ParsedRequestOf<'history'>>>,
  // The server's result builder takes exactly `ResultOf<op>`.
  Assert<Same<Parameters<typeof resultFrame<'history'>>[2], ResultOf<'history'>>>,
  Assert<Same<Parameters<typeof resultFrame<'presence'>>[2], ResultOf<'presence'>>>,
  // Presence results carry the presence store's records as they are.
  Assert<Same<PresenceInfo, WirePresence>>,
  // Every reply is a server frame.
  Assert<ReplyFrame extends ServerFrame ? true : false>,
];

// ---- the SDK expects the same ----------------------------------------------------------------

export type SdkChecks = [
  Assert<Same<Resolves<'history'>, ResultOf<'history'>>>,
  Assert<Same<Resolves<'openDirect'>, ResultOf<'openDirect'>['conversation']>>,
  Assert<Same<Resolves<'createGroup'>, ResultOf<'createGroup'>['conversation']>>,
  Assert<Same<Resolves<'addMembers'>, ResultOf<'addMembers'>['conversation']>>,
  Assert<Same<Resolves<'removeMembers'>, ResultOf<'removeMembers'>['conversation']>>,
  Assert<Same<Resolves<'listConversations'>, ResultOf<'listConversations'>['conversations']>>,
  Assert<Same<Resolves<'presence'>, ResultOf<'presence'>['users']>>,
  Assert<Same<Resolves<'subscribePresence'>, ResultOf<'subscribePresence'>['users']>>,
  Assert<Same<Resolves<'typing'>, ResultOf<'typing'>>>,
  Assert<Same<Resolves<'edit'>, ResultOf<'edit'>>>,
  Assert<Same<Resolves<'thread'>, ResultOf<'thread'>>>,
  Assert<Same<Sdk.ThreadResult, ResultOf<'thread'>>>,
  Assert<Same<Resolves<'delete'>, ResultOf<'delete'>>>,
  Assert<Same<Resolves<'react'>, ResultOf<'react'>>>,
  Assert<Same<Resolves<'unreact'>, ResultOf<'unreact'>>>,
  Assert<Same<Resolves<'mute'>, ResultOf<'mute'>>>,
  Assert<Same<Resolves<'unmute'>, ResultOf<'unmute'>>>,
  Assert<Same<Sdk.ChangeResult, ResultOf<'edit'>>>,
  Assert<Same<Resolves<'ping'>, ReplyOf<'ping'>['serverTime']>>,
  Assert<Same<Omit<Resolves<'sync'>, 'initial'>, Omit<ReplyOf<'sync'>, 'op' | 'id'>>>,
  Assert<Same<Omit<Resolves<'send'>, 'clientMsgId'>, Omit<ReplyOf<'send'>, 'op' | 'id'>>>,
  // The SDK's exported names are the protocol's types, not copies.
  Assert<Same<Sdk.ClientFrame, ClientFrame>>,
  Assert<Same<Sdk.ServerFrame, ServerFrame>>,
  Assert<Same<Sdk.HistoryResult, ResultOf<'history'>>>,
  Assert<Same<Sdk.ConversationResult, ResultOf<'openDirect'>>>,
  Assert<Same<Sdk.ListConversationsResult, ResultOf<'listConversations'>>>,
  Assert<Same<Sdk.PresenceResult, ResultOf<'presence'>>>,
  Assert<Same<Sdk.OkResult, ResultOf<'read'>>>,
  Assert<Same<Sdk.TypingResult, ResultOf<'typing'>>>,
  Assert<Same<Sdk.ServerErrorCode, ErrorCode>>,
  // The SDK's close codes include the protocol's, with the same values.
  Assert<Same<Pick<typeof Sdk.CloseCode, keyof typeof CloseCode>, typeof CloseCode>>,
];

// ---- the test clients too ---------------------------------------------------------------------

export type TestClientChecks = [
  Assert<Same<CallResult<'history'>, ResultOf<'history'>>>,
  Assert<Same<CallResult<'send'>, ReplyOf<'send'>>>,
];

it('compiles: server replies, SDK results and test clients share the protocol types', () => {
  assert.ok(true);
});
