/**
 * Server API: erasing a user's messages in every region, and reading each region's report
 * (docs/operations.md, "Retention and erasure"). The request is answered 202 once every other
 * region has it (replicated before the erasure starts); the erasure then runs in each region.
 */
import { z } from 'zod';
import { ChatError, ErrorCode } from '../../errors.ts';
import type { ApiRoute, RouteModule } from '../route.ts';

export const erasureBody = z.object({
  userId: z.string().min(1).max(256),
});

export const erasureRequestResponse = z.object({
  requestId: z.string(),
  userId: z.string(),
  requestedAt: z.number().int(),
  origin: z.string(),
});

const report = z.object({
  /** Rows removed per table. */
  tables: z.record(z.string(), z.number().int()),
  messageIds: z.array(z.string()),
  attachmentIds: z.array(z.string()),
});

export const erasureRecordSchema = z.object({
  requestId: z.string(),
  userId: z.string(),
  region: z.string(),
  requestedAt: z.number().int(),
  finishedAt: z.number().int().nullable(),
  status: z.enum(['running', 'done', 'failed']),
  progress: z.object({ scanned: z.number().int(), removed: z.number().int() }),
  report: report.nullable(),
  error: z.string().nullable(),
});

export const erasureStatusResponse = z.object({
  requestId: z.string(),
  /** One record per region that has reported (a region still to receive the request is absent). */
  regions: z.array(erasureRecordSchema),
});

type ErasureBody = z.infer<typeof erasureBody>;
type ErasureRequestResponse = z.infer<typeof erasureRequestResponse>;
type ErasureStatusResponse = z.infer<typeof erasureStatusResponse>;

export const erasureRoutes: RouteModule = (gw) => {
  const request: ApiRoute<ErasureBody, ErasureRequestResponse> = {
    method: 'POST',
    path: '/v1/erasures',
    operationId: 'eraseUser',
    summary: 'Erases every message a user sent, in every region, with their copies and files',
    tag: 'erasure',
    body: erasureBody,
    response: erasureRequestResponse,
    status: 202,
    async handle(req) {
      // With an Idempotency-Key, the key names the request: a retry is answered with the first.
      const key = req.idempotencyKey;
      return key
        ? gw.erasure.request(req.body.userId, `key-${req.principal.id}-${key}`)
        : gw.erasure.request(req.body.userId);
    },
  };
  const status: ApiRoute<undefined, ErasureStatusResponse> = {
    method: 'GET',
    path: '/v1/erasures/{id}',
    operationId: 'getErasure',
    summary: "Each region's report of an erasure: status, progress, rows removed per table, message ids",
    tag: 'erasure',
    response: erasureStatusResponse,
    async handle(req) {
      const requestId = req.params.id ?? '';
      const regions = await gw.erasure.records(requestId);
      if (regions.length === 0) throw new ChatError(ErrorCode.NotFound, `no erasure ${requestId}`);
      return { requestId, regions };
    },
  };
  return [request, status] as ApiRoute[];
};
