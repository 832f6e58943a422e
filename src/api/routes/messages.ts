/**
 * Messages for app backends: post as a user (the WebSocket `send` path: dedup, store,
 * replication, live delivery, offline queue, the same limits and errors) or as the deployment
 * (`senderId: "$system"`), edit or delete any message (the change path, as an operator), and
 * read history in pages. A post's `Idempotency-Key` is its `clientMsgId`: a retry is answered
 * `duplicate: true` with the first attempt's message.
 */
import { z } from 'zod';
import { SYSTEM_SENDER_ID } from '../../protocol/index.ts';
import { apiState, conversationParam, messageParam, messageSchema, parseAs, userIdSchema } from '../actor.ts';
import type { ApiRoute, RouteModule } from '../route.ts';

const postBody = z.object({
  senderId: z.union([userIdSchema, z.literal(SYSTEM_SENDER_ID)]),
  body: z.string(),
  replyTo: z
    .string()
    .regex(/^\d{1,19}$/)
    .optional(),
  attachments: z.array(z.string()).optional(),
});

const postResult = z.object({
  messageId: z.string(),
  conversationId: z.string(),
  senderId: z.string(),
  createdAt: z.number(),
  duplicate: z.boolean().describe('True when the Idempotency-Key was used before: nothing new was stored'),
});

const editBody = z.object({ body: z.string() });

const changeResult = z.object({
  changeId: z.string(),
  message: messageSchema,
  duplicate: z.boolean(),
});

const historyResult = z.object({
  order: z.enum(['newest_first', 'oldest_first']),
  messages: z.array(messageSchema),
  hasMore: z.boolean(),
});

export const messageRoutes: RouteModule = (gw) => {
  const post: ApiRoute<z.infer<typeof postBody>, z.infer<typeof postResult>> = {
    method: 'POST',
    path: '/v1/conversations/{conversationId}/messages',
    operationId: 'postMessage',
    summary: 'Post a message as a user (who must be a participant) or as the deployment ("$system")',
    tag: 'messages',
    body: postBody,
    response: postResult,
    status: 201,
    async handle(req) {
      const b = req.body;
      const frame = parseAs(gw, 'send', {
        conversationId: conversationParam(req.params),
        body: b.body,
        clientMsgId: req.idempotencyKey,
        ...(b.replyTo !== undefined ? { replyTo: b.replyTo } : {}),
        ...(b.attachments !== undefined ? { attachments: b.attachments } : {}),
      });
      const system = b.senderId === SYSTEM_SENDER_ID;
      const sent = await gw.chat.post(apiState(b.senderId), frame, system);
      return {
        messageId: sent.messageId,
        conversationId: sent.conversationId,
        senderId: b.senderId,
        createdAt: sent.createdAt,
        duplicate: sent.duplicate,
      };
    },
  };
  const history: ApiRoute<undefined, z.infer<typeof historyResult>> = {
    method: 'GET',
    path: '/v1/conversations/{conversationId}/messages',
    operationId: 'listMessages',
    summary: 'A page of history: newest first, or oldest first after `after`',
    tag: 'messages',
    query: [
      { name: 'before', description: 'Messages older than this id (newest first)' },
      { name: 'after', description: 'Messages newer than this id (oldest first)' },
      { name: 'limit', description: 'Page size (at most limits.maxHistoryLimit; default 50)' },
    ],
    response: historyResult,
    async handle(req) {
      const q = req.query;
      const limit = q.get('limit');
      const frame = parseAs(gw, 'history', {
        conversationId: conversationParam(req.params),
        ...(q.get('before') !== null ? { before: q.get('before') } : {}),
        ...(q.get('after') !== null ? { after: q.get('after') } : {}),
        ...(limit !== null ? { limit: /^\d{1,6}$/.test(limit) ? Number(limit) : limit } : {}),
      });
      const { data } = await gw.chat.adminHistory(frame);
      return { order: data.order, messages: data.messages, hasMore: data.hasMore };
    },
  };
  const edit: ApiRoute<z.infer<typeof editBody>, z.infer<typeof changeResult>> = {
    method: 'PATCH',
    path: '/v1/conversations/{conversationId}/messages/{messageId}',
    operationId: 'editMessage',
    summary: "Edit any message's text (an operator's edit: no edit window)",
    tag: 'messages',
    body: editBody,
    response: changeResult,
    async handle(req) {
      const frame = parseAs(gw, 'edit', {
        conversationId: conversationParam(req.params),
        messageId: messageParam(req.params),
        body: req.body.body,
        clientMsgId: req.idempotencyKey,
      });
      const { data } = await gw.chat.adminChange(apiState(SYSTEM_SENDER_ID), frame);
      return { changeId: data.changeId, message: data.message, duplicate: data.duplicate };
    },
  };
  const del: ApiRoute<undefined, z.infer<typeof changeResult>> = {
    method: 'DELETE',
    path: '/v1/conversations/{conversationId}/messages/{messageId}',
    operationId: 'deleteMessage',
    summary: 'Delete any message (a delete is final; deleting again answers duplicate: true)',
    tag: 'messages',
    response: changeResult,
    async handle(req) {
      const frame = parseAs(gw, 'delete', {
        conversationId: conversationParam(req.params),
        messageId: messageParam(req.params),
        clientMsgId: req.idempotencyKey,
      });
      const { data } = await gw.chat.adminChange(apiState(SYSTEM_SENDER_ID), frame);
      return { changeId: data.changeId, message: data.message, duplicate: data.duplicate };
    },
  };
  return [post, history, edit, del] as ApiRoute[];
};
