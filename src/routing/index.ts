import { MemoryBus, MemoryRouter } from './memory.ts';
import { NatsRouter, type NatsRouterOptions } from './nats.ts';
import type { Router } from './types.ts';

export { MemoryBus, MemoryRouter } from './memory.ts';
export { NatsRouter, type NatsRouterOptions } from './nats.ts';
export type * from './types.ts';
export {
  assertGatewayId,
  assertUserId,
  GATEWAY_ID_PATTERN,
  InvalidUserIdError,
  USER_ID_PATTERN,
} from './user-id.ts';

export type RouterConfig =
  | {
      kind: 'memory';
      /** Routers sharing a bus deliver to each other; omitted = a private bus (one gateway). */
      bus?: MemoryBus;
      /** The gateway it receives for (unique on its bus). */
      gatewayId: string;
    }
  | ({ kind: 'nats' } & NatsRouterOptions);

/** Builds the router named by `config.kind`. Call `start()` before publishing. */
export function createRouter(config: RouterConfig): Router {
  switch (config.kind) {
    case 'memory':
      return new MemoryRouter(config.bus ?? new MemoryBus(), config.gatewayId);
    case 'nats': {
      const { kind: _kind, ...opts } = config;
      return new NatsRouter(opts);
    }
  }
}
