/**
 * Server API routes of moderation: the app's backend (or an operator) sets group roles and bans
 * with the authority of the group's owner (`Moderator` of kind `server`): the same checks and
 * effects as the client ops (src/gateway/ops/moderation.ts), replicated to every region. Nobody,
 * the server included, bans the owner or takes the owner role.
 */
import { z } from 'zod';
import { ChatError, ErrorCode } from '../../protocol/errors.ts';
import { CONVERSATION_ID, USER_ID } from '../../protocol/ids.ts';
import type { WireConversation } from '../../protocol/server-frames.ts';
import type { ApiRequest, ApiRoute, RouteModule } from '../route.ts';

const TAG = 'moderation';

const conversationSchema: z.ZodType<WireConversation> = z.object({
  id: z.string(),
  kind: z.enum(['direct', 'group']),
  title: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.number(),
  members: z.array(z.string()),
  admins: z.array(z.string()),
});

const roleBody = z.object({ role: z.enum(['admin', 'member']) });
const conversationResult = z.object({ conversation: conversationSchema });
const banResult = z.object({ conversation: conversationSchema, banned: z.array(z.string()) });

type RoleBody = z.infer<typeof roleBody>;
type ConversationResult = z.infer<typeof conversationResult>;
type BanResult = z.infer<typeof banResult>;

/** A path parameter checked like the same field of a client op (`invalid_field` otherwise). */
function param(req: ApiRequest<unknown>, name: string, re: RegExp): string {
  const v = req.params[name];
  if (v === undefined || !re.test(v)) {
    throw new ChatError(ErrorCode.InvalidField, `${name}: bad format`, { field: name });
  }
  return v;
}

export const moderationRoutes: RouteModule = (gw) => {
  const mod = gw.chat.moderation;
  const server = (req: ApiRequest<unknown>) => ({ kind: 'server' as const, id: req.principal.id });
  const group = (req: ApiRequest<unknown>) => param(req, 'id', CONVERSATION_ID);
  const user = (req: ApiRequest<unknown>) => param(req, 'userId', USER_ID);

  const setRole: ApiRoute<RoleBody, ConversationResult> = {
    method: 'PUT',
    path: '/v1/conversations/{id}/roles/{userId}',
    operationId: 'setRole',
    summary: "Make a group's member an admin, or an admin a member again",
    tag: TAG,
    body: roleBody,
    response: conversationResult,
    async handle(req) {
      const after = await mod.setRole(server(req), group(req), user(req), req.body.role);
      return { conversation: gw.chat.wire(after) };
    },
  };
  const ban: ApiRoute<unknown, BanResult> = {
    method: 'PUT',
    path: '/v1/conversations/{id}/bans/{userId}',
    operationId: 'banUser',
    summary: 'Ban a user from a group (removing them if a member)',
    tag: TAG,
    response: banResult,
    async handle(req) {
      const { group: after, banned } = await mod.setBan(server(req), group(req), user(req), true);
      return { conversation: gw.chat.wire(after), banned };
    },
  };
  const unban: ApiRoute<unknown, BanResult> = {
    method: 'DELETE',
    path: '/v1/conversations/{id}/bans/{userId}',
    operationId: 'unbanUser',
    summary: 'Lift a ban: the user may be added to the group again',
    tag: TAG,
    response: banResult,
    async handle(req) {
      const { group: after, banned } = await mod.setBan(server(req), group(req), user(req), false);
      return { conversation: gw.chat.wire(after), banned };
    },
  };
  return [setRole, ban, unban];
};
