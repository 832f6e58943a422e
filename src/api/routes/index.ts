/** Every route module the server API serves; a concern adds its module here. */
import type { RouteModule } from '../route.ts';

export const ROUTE_MODULES: RouteModule[] = [];
