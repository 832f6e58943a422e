/**
 * Retention and erasure as a gateway runs them: the policy its reads check, the sweeper (run by
 * the region's worker 0 only: one walk per region is enough, and removals are idempotent), and
 * the erasure service wired to replication, the stream-erasure seam and the hub.
 */
import type { ChatService } from '../gateway/chat-service.ts';
import type { Hub } from '../gateway/hub.ts';
import { caughtUp, type Replication } from '../replication/index.ts';
import type { ErasureRecord } from '../storage/retention.ts';
import type { Storage } from '../storage/types.ts';
import type { Logger } from '../util/log.ts';
import { snowflakeTime } from '../util/snowflake.ts';
import type { WebhookEmitter } from '../webhooks/emitter.ts';
import { type ErasedIds, ErasureService } from './erasure.ts';
import { erasureNotifier } from './notify.ts';
import type { RetentionPolicy } from './policy.ts';
import { RetentionSweeper } from './sweeper.ts';

/** The event of one region's finished erasure: keyed by request and region, so a rerun repeats its id. */
function userErased(hooks: WebhookEmitter, record: ErasureRecord): Promise<void> {
  return hooks.emit('user.erased', `${record.requestId}:${record.region}`, {
    requestId: record.requestId,
    userId: record.userId,
    region: record.region,
    messages: record.report?.messageIds.length ?? 0,
    attachments: record.report?.attachmentIds.length ?? 0,
    finishedAt: record.finishedAt ?? Date.now(),
  });
}

export interface RetentionParts {
  sweeper: RetentionSweeper;
  erasure: ErasureService;
}

export function retentionParts(d: {
  storage: Storage;
  policy: RetentionPolicy;
  region: string;
  replication?: Replication | undefined;
  hub: Hub;
  chat: ChatService;
  sweepIntervalMs: number;
  log: Logger;
  /** The region's webhooks, when endpoints are configured: `user.erased` per finished erasure. */
  webhooks?: WebhookEmitter | undefined;
}): RetentionParts {
  // Replication's stream eraser (what message deletes use): erases the events carrying the
  // removed content from this region's outbox and inbox. One region: no streams.
  const eraser = d.replication?.eraser;
  const eraseStreams = async (ids: ErasedIds): Promise<void> => {
    if (!eraser) return;
    // A message's events were published after its id was made: its id's time bounds the search.
    if (ids.messageIds.length > 0)
      await eraser.messages(
        ids.messageIds.map((messageId) => ({ messageId, createdAt: snowflakeTime(messageId) })),
      );
    // The metadata is gone already: null looks over the streams' whole age.
    if (ids.attachmentIds.length > 0)
      await eraser.attachments(ids.attachmentIds.map((id) => ({ id, meta: null })));
  };
  const sweeper = new RetentionSweeper({
    store: d.storage.retention,
    policy: d.policy,
    intervalMs: d.sweepIntervalMs,
    log: d.log,
    onRemoved: (_conversationId, report) =>
      eraseStreams({
        messageIds: report.messageIds.map((id) => BigInt(id)),
        attachmentIds: report.attachmentIds,
      }),
  });
  const replication = d.replication;
  const hooks = d.webhooks?.wants('user.erased') ? d.webhooks : null;
  const erasure = new ErasureService({
    storage: d.storage,
    region: d.region,
    log: d.log,
    eraseStreams,
    notify: erasureNotifier(d.hub, d.chat),
    ...(hooks ? { finished: (record: ErasureRecord) => userErased(hooks, record) } : {}),
    ...(replication
      ? {
          caughtUp: async (inFlight: number) => caughtUp(await replication.backlog(), inFlight),
          publish: {
            request: (req) => replication.publishErasure(req),
            record: (record) => replication.publishErasureRecord(record),
          },
        }
      : {}),
  });
  return { sweeper, erasure };
}
