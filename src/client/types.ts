/**
 * Wire protocol v1 as the SDK sees it. Nothing is declared here: the types come from
 * src/protocol, which the gateway builds its frames with too, so a reply that changes on one side
 * fails to compile on the other. Re-exported under the names the SDK has always exported.
 */
import type { ErrorCode } from '../protocol/index.ts';

export type {
  BanResult,
  BlocksResult,
  ChangeResult,
  ClientFrame,
  ClientOp,
  CloseFrame,
  ConversationFrame,
  ConversationResult,
  ErrorFrame,
  ErrorInfo,
  GroupRoleName,
  HistoryResult,
  ListConversationsResult,
  MessageFrame,
  MuteResult,
  OkResult,
  PongFrame,
  PresenceFrame,
  PresenceResult,
  PresenceStatus,
  ReceiptFrame,
  Replies,
  ReplyFrame,
  ReplyOf,
  ReplyOp,
  RequestOf,
  ResultData,
  ResultFrame,
  ResultOf,
  ResultOp,
  RetryAdvice,
  SearchResult,
  SentFrame,
  ServerFrame,
  SyncedFrame,
  ThreadResult,
  TypingFrame,
  TypingResult,
  UpdateFrame,
  WelcomeFrame,
  WelcomeLimits,
  WireAttachment,
  WireConversation,
  WireConversationSummary,
  WireMessage,
  WireMessageState,
  WirePresence,
  WireReactions,
  WireReplyQuote,
  WireThread,
} from '../protocol/index.ts';
export {
  DEVICE_LABEL_MAX,
  ERRORS,
  ErrorCode,
  isPositionToken,
  isRetryable,
  POSITION_MAX_CHARS,
  PROTOCOL_VERSION,
  SUBPROTOCOL,
} from '../protocol/index.ts';

/** Stable error codes the gateway sends in `error` frames (docs/protocol.md, "Errors"). */
export type ServerErrorCode = ErrorCode;
