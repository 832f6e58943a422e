/**
 * Server API: moving users to another home region (docs/operations.md, "Moving users to another
 * home region"). A move is started in the user's current home region (it holds the queue that
 * moves) and answered 202 at once; its record — phase, progress, verification report — is
 * readable in every region while it runs and after.
 */
import { z } from 'zod';
import { ChatError, ErrorCode } from '../../errors.ts';
import type { Gateway } from '../../gateway/gateway.ts';
import type { HomeMoves } from '../../homes/service.ts';
import { MOVE_PHASES } from '../../storage/home-moves.ts';
import type { ApiRoute, RouteModule } from '../route.ts';

export const homeMoveBody = z.object({
  userIds: z.array(z.string().min(1).max(64)).min(1).max(1000),
  /** The region to become their home. */
  to: z.string().min(1),
});

const difference = z.object({
  messageId: z.string(),
  kind: z.enum(['missing', 'extra']),
  round: z.number().int(),
});

export const homeMoveSchema = z.object({
  userId: z.string(),
  moveId: z.string(),
  from: z.string(),
  to: z.string(),
  phase: z.enum(MOVE_PHASES),
  rev: z.number().int(),
  startedAt: z.number().int(),
  updatedAt: z.number().int(),
  progress: z.object({
    batches: z.number().int(),
    copied: z.number().int(),
    rounds: z.number().int(),
    cleaned: z.number().int(),
  }),
  report: z
    .object({
      rounds: z.number().int(),
      oldCount: z.number().int(),
      newCount: z.number().int(),
      transient: z.number().int(),
      differences: z.array(difference),
      copiedMissing: z.array(z.string()),
      removedExtra: z.array(z.string()),
      clean: z.boolean(),
    })
    .nullable(),
  error: z.string().nullable(),
});

export const homeMovesResponse = z.object({ moves: z.array(homeMoveSchema) });

type HomeMoveBody = z.infer<typeof homeMoveBody>;
type HomeMoveRecord = z.infer<typeof homeMoveSchema>;
type HomeMovesResponse = z.infer<typeof homeMovesResponse>;

function movesOf(gw: Gateway): HomeMoves {
  if (!gw.homeMoves) {
    throw new ChatError(ErrorCode.InvalidField, 'one region only: there is no other home to move to', {
      field: 'to',
    });
  }
  return gw.homeMoves;
}

export const homeMoveRoutes: RouteModule = (gw) => {
  const start: ApiRoute<HomeMoveBody, HomeMovesResponse> = {
    method: 'POST',
    path: '/v1/home-moves',
    operationId: 'moveUsers',
    summary:
      'Moves users to another home region (called in their current home); repeating it resumes a stopped move',
    tag: 'home-moves',
    body: homeMoveBody,
    response: homeMovesResponse,
    status: 202,
    async handle(req) {
      return { moves: await movesOf(gw).request(req.body.userIds, req.body.to) };
    },
  };
  const list: ApiRoute<undefined, HomeMovesResponse> = {
    method: 'GET',
    path: '/v1/home-moves',
    operationId: 'listHomeMoves',
    summary: "Every user's move record as this region holds it (running, done and failed)",
    tag: 'home-moves',
    response: homeMovesResponse,
    async handle() {
      return { moves: await movesOf(gw).list() };
    },
  };
  const one: ApiRoute<undefined, HomeMoveRecord> = {
    method: 'GET',
    path: '/v1/home-moves/{userId}',
    operationId: 'getHomeMove',
    summary: "A user's move: phase, progress and verification report",
    tag: 'home-moves',
    response: homeMoveSchema,
    async handle(req) {
      const userId = req.params.userId ?? '';
      const move = await movesOf(gw).get(userId);
      if (!move) throw new ChatError(ErrorCode.NotFound, `no move of ${userId}`);
      return move;
    },
  };
  return [start, list, one];
};
