/** Every route module the server API serves; a concern adds its module here. */
import type { RouteModule } from '../route.ts';
import { conversationRoutes } from './conversations.ts';
import { erasureRoutes } from './erasure.ts';
import { homeMoveRoutes } from './home-moves.ts';
import { messageRoutes } from './messages.ts';
import { moderationRoutes } from './moderation.ts';
import { retentionRoutes } from './retention.ts';
import { userRoutes } from './users.ts';
import { webhookRoutes } from './webhooks.ts';

export const ROUTE_MODULES: RouteModule[] = [
  conversationRoutes,
  messageRoutes,
  userRoutes,
  moderationRoutes,
  webhookRoutes,
  retentionRoutes,
  erasureRoutes,
  homeMoveRoutes,
];
