import type { Logger } from '../util/log.ts';
import { MemoryPresence } from './memory.ts';
import { RedisPresence, type RedisPresenceOptions } from './redis.ts';
import type { Presence } from './types.ts';

export { DEFAULT_PRESENCE_TTL_MS } from './defaults.ts';
export { MemoryPresence, type MemoryPresenceOptions } from './memory.ts';
export { DEFAULT_PRESENCE_KEY_PREFIX, RedisPresence, type RedisPresenceOptions } from './redis.ts';
export type * from './types.ts';

export type PresenceConfig =
  | { kind: 'memory'; ttlMs?: number; sweepIntervalMs?: number; log?: Logger }
  | ({ kind: 'redis' } & RedisPresenceOptions);

/** Builds the presence implementation named by `config.kind`. Call `start()` before use. */
export function createPresence(config: PresenceConfig): Presence {
  switch (config.kind) {
    case 'memory':
      return new MemoryPresence(config);
    case 'redis':
      return new RedisPresence(config);
  }
}
