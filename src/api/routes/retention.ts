/**
 * Server API: a conversation's own retention period (docs/operations.md, "Retention and
 * erasure"). Set through the gateway's store, so it replicates to every region (`rt` event); the
 * sweeper of each region removes what it makes expire, and reads hide it at once.
 */
import { z } from 'zod';
import { ChatError, ErrorCode } from '../../errors.ts';
import type { Gateway } from '../../gateway/gateway.ts';
import type { ApiRoute, RouteModule } from '../route.ts';

/** Up to a hundred years, in seconds (as `assertRetentionSeconds` allows). */
const MAX_SECONDS = 100 * 365 * 24 * 3600;

export const retentionBody = z.object({
  /** Seconds; 0 keeps this conversation's messages forever; null follows the global period. */
  seconds: z.number().int().min(0).max(MAX_SECONDS).nullable(),
});

export const retentionResponse = z.object({
  conversationId: z.string(),
  /** The conversation's own period, or null when it follows the global one. */
  seconds: z.number().int().nullable(),
  /** The period in force: the conversation's own, else the global one (0: forever). */
  effectiveSeconds: z.number().int(),
});

type RetentionBody = z.infer<typeof retentionBody>;
type RetentionResponse = z.infer<typeof retentionResponse>;

async function existing(gw: Gateway, id: string): Promise<void> {
  if (!(await gw.deps.storage.getConversation(id))) {
    throw new ChatError(ErrorCode.NotFound, `no conversation ${id}`);
  }
}

async function describe(gw: Gateway, conversationId: string): Promise<RetentionResponse> {
  const seconds = await gw.deps.storage.retention.getConversationRetention(conversationId);
  return { conversationId, seconds, effectiveSeconds: seconds ?? gw.retention.globalSeconds };
}

export const retentionRoutes: RouteModule = (gw) => {
  const get: ApiRoute<undefined, RetentionResponse> = {
    method: 'GET',
    path: '/v1/conversations/{id}/retention',
    operationId: 'getConversationRetention',
    summary: "A conversation's retention period",
    tag: 'retention',
    response: retentionResponse,
    async handle(req) {
      const id = req.params.id ?? '';
      await existing(gw, id);
      return describe(gw, id);
    },
  };
  const put: ApiRoute<RetentionBody, RetentionResponse> = {
    method: 'PUT',
    path: '/v1/conversations/{id}/retention',
    operationId: 'setConversationRetention',
    summary: "Sets (or, with null, clears) a conversation's own retention period, in every region",
    tag: 'retention',
    body: retentionBody,
    response: retentionResponse,
    async handle(req) {
      const id = req.params.id ?? '';
      await existing(gw, id);
      // Idempotent: setting the same value again changes nothing (the later time wins, same value).
      await gw.deps.storage.retention.setConversationRetention(id, req.body.seconds, Date.now());
      gw.retention.forget(id);
      return describe(gw, id);
    },
  };
  return [get, put] as ApiRoute[];
};
