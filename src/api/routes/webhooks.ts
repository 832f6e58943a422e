/**
 * Webhook operations for operators: the region's queue depth, its dead letters, and replaying
 * one (queued again, attempts from 1). Without configured endpoints every route answers
 * `not_found`: there is no queue to look at.
 */
import { z } from 'zod';
import { ChatError, ErrorCode } from '../../errors.ts';
import type { Gateway } from '../../gateway/gateway.ts';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/event-types.ts';
import type { Webhooks } from '../../webhooks/index.ts';
import type { ApiRoute, RouteModule } from '../route.ts';

/** Most dead letters one listing returns. */
export const MAX_DEAD_LETTER_PAGE = 500;

const deadLetterSchema = z.object({
  /** `<endpoint>.<event id>`: what `replay` takes. */
  id: z.string(),
  endpoint: z.string(),
  attempts: z.number().int(),
  lastError: z.string(),
  deadAt: z.number().int(),
  event: z.object({
    id: z.string(),
    type: z.enum(WEBHOOK_EVENT_TYPES),
    createdAt: z.number().int(),
    data: z.record(z.string(), z.unknown()),
  }),
});

const statusSchema = z.object({
  endpoints: z.array(z.object({ name: z.string(), events: z.array(z.enum(WEBHOOK_EVENT_TYPES)) })),
  queueDepth: z.number().int(),
  deadLetters: z.number().int(),
});

const listSchema = z.object({ deadLetters: z.array(deadLetterSchema) });
const replaySchema = z.object({ replayed: z.literal(true) });

function need(gw: Gateway): Webhooks {
  const w = gw.deps.webhooks;
  if (!w)
    throw new ChatError(ErrorCode.NotFound, 'webhooks are not configured (webhooks.endpoints is empty)');
  return w;
}

async function unavailableOnFailure<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (cause) {
    if (cause instanceof ChatError) throw cause;
    throw new ChatError(ErrorCode.Unavailable, 'webhook queue unavailable; retry', undefined, { cause });
  }
}

export const webhookRoutes: RouteModule = (gw) => {
  const status: ApiRoute<undefined, z.infer<typeof statusSchema>> = {
    method: 'GET',
    path: '/v1/webhooks',
    operationId: 'getWebhookStatus',
    summary: "The configured endpoints, the region's queue depth and its dead-letter count",
    tag: 'webhooks',
    response: statusSchema,
    handle: async () => {
      const w = need(gw);
      return unavailableOnFailure(async () => ({
        endpoints: w.config.endpoints.map((e) => ({ name: e.name, events: [...e.events] })),
        queueDepth: await w.queue.depth(),
        deadLetters: await w.queue.deadCount(),
      }));
    },
  };
  const list: ApiRoute<undefined, z.infer<typeof listSchema>> = {
    method: 'GET',
    path: '/v1/webhooks/dead-letters',
    operationId: 'listWebhookDeadLetters',
    summary: 'Events whose delivery failed every attempt, oldest first (`?limit=`, default 100)',
    tag: 'webhooks',
    response: listSchema,
    handle: async (req) => {
      const w = need(gw);
      const raw = req.query.get('limit');
      const limit = raw === null ? 100 : Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DEAD_LETTER_PAGE) {
        throw new ChatError(ErrorCode.InvalidField, `limit: 1..${MAX_DEAD_LETTER_PAGE}`, { field: 'limit' });
      }
      const letters = await unavailableOnFailure(() => w.queue.listDead(limit));
      return {
        deadLetters: letters.map((l) => ({
          id: l.item.id,
          endpoint: l.item.endpoint,
          attempts: l.attempts,
          lastError: l.lastError,
          deadAt: l.deadAt,
          event: {
            id: l.item.event.id,
            type: l.item.event.type,
            createdAt: l.item.event.createdAt,
            data: { ...l.item.event.data },
          },
        })),
      };
    },
  };
  const replay: ApiRoute<undefined, z.infer<typeof replaySchema>> = {
    method: 'POST',
    path: '/v1/webhooks/dead-letters/{id}/replay',
    operationId: 'replayWebhookDeadLetter',
    summary: 'Queues a dead letter again for delivery (attempts start over) and removes it',
    tag: 'webhooks',
    response: replaySchema,
    handle: async (req) => {
      const w = need(gw);
      const id = req.params.id ?? '';
      const replayed = await unavailableOnFailure(() => w.queue.replayDead(id));
      if (!replayed) throw new ChatError(ErrorCode.NotFound, 'no such dead letter', { field: 'id' });
      return { replayed: true as const };
    },
  };
  return [status, list, replay] as ApiRoute[];
};
