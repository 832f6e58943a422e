/**
 * The backing services' secrets from the environment (docs/operations.md, "Credentials and
 * TLS"): a Kubernetes Secret feeds them as variables, so the config file (a ConfigMap) holds
 * none. Each one set replaces the same field of the served region's block; a variable for a
 * service the region does not use has nothing to apply to and is ignored.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { RegionConfig } from './schema.ts';
import type { NatsConfig } from './services.ts';

/** An unset and an empty variable mean the same: not given. */
const secret = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

/** The variables, parsed by env.ts's schema with the others. */
export const serviceSecretsEnv = {
  CHAT_CASSANDRA_USERNAME: secret,
  CHAT_CASSANDRA_PASSWORD: secret,
  CHAT_REDIS_USERNAME: secret,
  CHAT_REDIS_PASSWORD: secret,
  /** The Sentinels' own password (`redis.sentinel.password`). */
  CHAT_REDIS_SENTINEL_PASSWORD: secret,
  CHAT_NATS_USER: secret,
  CHAT_NATS_PASSWORD: secret,
  CHAT_NATS_TOKEN: secret,
};

export type ServiceSecrets = { [K in keyof typeof serviceSecretsEnv]?: string | undefined };

const set = <T extends object>(target: T, values: Partial<T>): T => {
  for (const [k, v] of Object.entries(values))
    if (v !== undefined) (target as Record<string, unknown>)[k] = v;
  return target;
};

/**
 * Applies the variables to `region` (in place), then checks what only the merged whole can show:
 * NATS user and password as a pair, and one way of authenticating to NATS.
 */
export function applyServiceSecrets(region: RegionConfig, env: ServiceSecrets): void {
  if (region.cassandra)
    set(region.cassandra, { username: env.CHAT_CASSANDRA_USERNAME, password: env.CHAT_CASSANDRA_PASSWORD });
  if (region.redis) {
    set(region.redis, { username: env.CHAT_REDIS_USERNAME, password: env.CHAT_REDIS_PASSWORD });
    if (region.redis.sentinel) set(region.redis.sentinel, { password: env.CHAT_REDIS_SENTINEL_PASSWORD });
  }
  if (region.nats) {
    set(region.nats, {
      user: env.CHAT_NATS_USER,
      password: env.CHAT_NATS_PASSWORD,
      token: env.CHAT_NATS_TOKEN,
    });
    checkNatsAuth(region.nats, `regions.${region.name}.nats`);
  }
  if (
    region.cassandra &&
    (region.cassandra.username === undefined) !== (region.cassandra.password === undefined)
  ) {
    const path = `regions.${region.name}.cassandra.username`;
    throw new ConfigError(
      `${path}: username and password go together (CHAT_CASSANDRA_USERNAME/PASSWORD)`,
      path,
    );
  }
}

/** One way of authenticating, and user with password. */
export function checkNatsAuth(n: NatsConfig, where: string): void {
  if ((n.user === undefined) !== (n.password === undefined)) {
    const path = `${where}.user`;
    throw new ConfigError(`${path}: user and password go together (CHAT_NATS_USER/PASSWORD)`, path);
  }
  const ways = [n.user, n.token, n.credsFile, n.nkeySeedFile].filter((v) => v !== undefined).length;
  if (ways > 1) {
    throw new ConfigError(`${where}: one of user/password, token, credsFile or nkeySeedFile`, where);
  }
}
