/**
 * Conversations for app backends: create a group or a direct conversation with its members,
 * add and remove members. The same operations as the WebSocket's (membership cache, events to
 * the members, replication), without the caller being a member.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ChatError, ErrorCode, SYSTEM_SENDER_ID } from '../../protocol/index.ts';
import { conversationParam, conversationResult, parseAs, userIdSchema, userParam } from '../actor.ts';
import type { ApiRoute, RouteModule } from '../route.ts';

const createBody = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('group'),
    title: z.string().min(1).max(200),
    members: z.array(userIdSchema).max(10_000),
    /** Who created it (may remove others from the WebSocket); default the deployment itself. */
    createdBy: userIdSchema.optional(),
  }),
  z.object({
    kind: z.literal('direct'),
    members: z.tuple([userIdSchema, userIdSchema]),
  }),
]);

const membersBody = z.object({ userIds: z.array(userIdSchema).min(1).max(1000) });

/**
 * A group id from an `Idempotency-Key`: the same key names the same group, so a retried
 * creation returns it instead of making a second one. 63 bits of the key's hash, in the same
 * `g:<digits>` form as minted ids (a collision with a minted snowflake is as likely as a hash
 * collision).
 */
function groupIdFor(key: string): string {
  const h = createHash('sha256').update(`group:${key}`).digest();
  return `g:${h.readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn}`;
}

export const conversationRoutes: RouteModule = (gw) => {
  const create: ApiRoute<z.infer<typeof createBody>, z.infer<typeof conversationResult>> = {
    method: 'POST',
    path: '/v1/conversations',
    operationId: 'createConversation',
    summary: 'Create a group or a direct conversation with its members',
    tag: 'conversations',
    body: createBody,
    response: conversationResult,
    status: 201,
    async handle(req) {
      const b = req.body;
      if (b.kind === 'direct') {
        const [a, c] = b.members;
        if (a === c) {
          throw new ChatError(ErrorCode.InvalidField, 'members: two different users', { field: 'members' });
        }
        return { conversation: await gw.chat.openDirect(a, c) };
      }
      // The WebSocket's checks (title length, member count) on the same fields.
      parseAs(gw, 'createGroup', { title: b.title, members: b.members });
      const id = req.idempotencyKey !== null ? groupIdFor(req.idempotencyKey) : undefined;
      const createdBy = b.createdBy ?? SYSTEM_SENDER_ID;
      const members = b.createdBy ? [b.createdBy, ...b.members] : b.members;
      return { conversation: await gw.chat.createGroupAs(createdBy, b.title, members, id) };
    },
  };
  const add: ApiRoute<z.infer<typeof membersBody>, z.infer<typeof conversationResult>> = {
    method: 'POST',
    path: '/v1/conversations/{conversationId}/members',
    operationId: 'addMembers',
    summary: 'Add members to a group (adding a member twice changes nothing)',
    tag: 'conversations',
    body: membersBody,
    response: conversationResult,
    async handle(req) {
      const frame = parseAs(gw, 'addMembers', {
        conversationId: conversationParam(req.params),
        userIds: req.body.userIds,
      });
      return { conversation: await gw.chat.adminChangeMembers(frame) };
    },
  };
  const remove: ApiRoute<undefined, z.infer<typeof conversationResult>> = {
    method: 'DELETE',
    path: '/v1/conversations/{conversationId}/members/{userId}',
    operationId: 'removeMember',
    summary: 'Remove a member from a group (removing a non-member changes nothing)',
    tag: 'conversations',
    response: conversationResult,
    async handle(req) {
      const frame = parseAs(gw, 'removeMembers', {
        conversationId: conversationParam(req.params),
        userIds: [userParam(req.params)],
      });
      return { conversation: await gw.chat.adminChangeMembers(frame) };
    },
  };
  return [create, add, remove] as ApiRoute[];
};
