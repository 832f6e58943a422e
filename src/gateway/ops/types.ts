/**
 * The shape of an operation: a handler per client op, taking the connection's state and its
 * validated request (`ParsedRequestOf<Op>`) and answering with the frame the protocol says
 * answers that op (`ReplyOf<Op>`, built with `resultFrame`, which checks `ResultOf<Op>`). A
 * handler that answers with the wrong frame or data fails to compile; so does a table that
 * misses an op.
 */
import type { AttachmentsConfig, LimitsConfig, ResumeConfig } from '../../config/schema.ts';
import type { Presence } from '../../presence/types.ts';
import type { ClientOp, ParsedRequestOf, ReplyOf, ReplyOp } from '../../protocol/index.ts';
import type { Storage } from '../../storage/types.ts';
import type { Logger } from '../../util/log.ts';
import type { SnowflakeGenerator } from '../../util/snowflake.ts';
import type { ConnectionState } from '../connection.ts';
import type { Hub } from '../hub.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { PresenceWatchers } from '../presence-watchers.ts';
import type { Tasks } from './tasks.ts';
import type { Visibility } from './visibility.ts';

/**
 * What answers `Op` when it succeeds: its reply frame; nothing (`null`) for `ack`, and for a
 * `typing` sent without an id.
 */
export type AnswerOf<Op extends ClientOp> = Op extends 'ack'
  ? null
  : Op extends 'typing'
    ? ReplyOf<'typing'> | null
    : Op extends ReplyOp
      ? ReplyOf<Op>
      : never;

/** Handles one validated request of `Op`; a failure is thrown as a `ChatError`. */
export type Handler<Op extends ClientOp> = (
  state: ConnectionState,
  request: ParsedRequestOf<Op>,
) => Promise<AnswerOf<Op>>;

/** One handler per op: the dispatch table (`ops/index.ts`). */
export type HandlerTable = { [Op in ClientOp]: Handler<Op> };

/** The part of the table one concern's file provides. */
export type HandlersFor<Op extends ClientOp> = Pick<HandlerTable, Op>;

/** What the operations are built from (the gateway passes its services in). */
export interface OpsDeps {
  storage: Storage;
  presence: Presence;
  hub: Hub;
  watchers: PresenceWatchers;
  ids: SnowflakeGenerator;
  metrics: GatewayMetrics;
  limits: LimitsConfig;
  /** Attachment limits (`send` checks how many a message references). */
  attachments: AttachmentsConfig;
  /** How far a replay reads back from a resume position. */
  resume: ResumeConfig;
  /** This gateway's region name: the clock of the positions it issues. */
  region: string;
  log: Logger;
  /**
   * With several regions, only a user's home region queues for them (other regions' copies
   * reach the home region through replication). Absent: every user is local.
   */
  isHome?: (userId: string) => boolean;
}

/** The deps plus what the concerns share: the task tracker and the visibility stamp. */
export interface OpsContext extends OpsDeps {
  tasks: Tasks;
  visibility: Visibility;
}
