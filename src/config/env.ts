/**
 * The process environment, parsed with the same rigour as the config file: one zod schema, and
 * a `ConfigError` naming the variable (`env.CHAT_PORT: …`). Command-line flags of `npm start`
 * (`--port` and so on) are folded in under the variable they override before parsing.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { MAX_WORKER_ID } from '../util/snowflake.ts';
import { embeddedConfig, loadConfigFile, selectRegion } from './load.ts';
import { type ChatConfig, LOG_LEVELS, type LogLevel, type RegionConfig, TRANSPORTS } from './schema.ts';
import { applyServiceSecrets, serviceSecretsEnv } from './service-secrets.ts';

/** An unset and an empty variable mean the same: not given. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const integer = (min: number, max: number, message: string) =>
  z
    .string()
    .regex(/^\d+$/, message)
    .transform(Number)
    .pipe(z.number().int().min(min, message).max(max, message));

/** `CHAT_WORKER_ID` value: the worker id is the ordinal at the end of the host name. */
export const WORKER_ID_FROM_ORDINAL = 'ordinal';

export const envSchema = z.object({
  /** A YAML config file; unset → embedded mode (one gateway, LMDB, in-process everything). */
  CHAT_CONFIG: optional(z.string()),
  /** Which of the file's regions this process serves; needed when it has several. */
  CHAT_REGION: optional(z.string()),
  /** Overrides the region's `gateway.port` (0 = any free port). */
  CHAT_PORT: optional(integer(0, 65535, 'not a port (0..65535)')),
  /** Overrides the region's `gateway.host`. */
  CHAT_HOST: optional(z.string()),
  /**
   * Unique per gateway within a region: it goes into message ids. `ordinal` takes the number
   * after the host name's last `-`: a Kubernetes StatefulSet names its pods `<name>-<ordinal>`,
   * so each pod gets its own id for as long as it exists, and a replacement pod the same one.
   */
  CHAT_WORKER_ID: optional(
    z.union([z.literal(WORKER_ID_FROM_ORDINAL), integer(0, MAX_WORKER_ID, `must be 0..${MAX_WORKER_ID}`)]),
  ).transform((v) => v ?? 0),
  /** The embedded store's directory (overrides the region's `dataDir`). */
  CHAT_DATA_DIR: optional(z.string()),
  /** The dashboard's token when the config has none (embedded mode: else a random one per run). */
  CHAT_OPERATOR_TOKEN: optional(z.string().min(16, 'at least 16 characters')),
  /**
   * The server API's keys, `name:key,name:key` (replaces `api.keys`): secrets stay out of the
   * config file.
   */
  CHAT_API_KEYS: optional(
    z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9_-]{0,31}:[^,:]{24,}(,[a-z0-9][a-z0-9_-]{0,31}:[^,:]{24,})*$/,
        'name:key,… (keys of 24+ characters)',
      ),
  ),
  /** Overrides the config's `log.level`. */
  CHAT_LOG_LEVEL: optional(z.enum(LOG_LEVELS)),
  /** Overrides the config's `transport` (`auto`, `uws`, `node`). */
  CHAT_TRANSPORT: optional(z.enum(TRANSPORTS)),
  /** The backing services' passwords and tokens (service-secrets.ts), for the served region. */
  ...serviceSecretsEnv,
});

export type ChatEnv = z.infer<typeof envSchema>;

/** Validates the environment; throws `ConfigError` with path `env.<VARIABLE>`. */
export function parseEnv(env: Readonly<Record<string, string | undefined>>): ChatEnv {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = `env.${issue?.path.join('.') ?? '(root)'}`;
    throw new ConfigError(`${path}: ${issue?.message ?? 'invalid'}`, path);
  }
  return result.data;
}

/** Everything `npm start` runs with: the config, this process's region and its overrides. */
export interface StartupConfig {
  config: ChatConfig;
  region: RegionConfig;
  workerId: number;
  port: number | undefined;
  dataDir: string | undefined;
  /** The config file, or undefined in embedded mode. */
  configFile: string | undefined;
  logLevel: LogLevel;
}

/** Reads the config file (or the embedded defaults) and applies the environment to it. */
export function resolveStartup(env: ChatEnv): StartupConfig {
  const configFile = env.CHAT_CONFIG;
  const dataDir = env.CHAT_DATA_DIR;
  // The dashboard's operator token: from the config file (`auth.operatorToken`), else
  // CHAT_OPERATOR_TOKEN, else (embedded mode only) a random one for this run, printed at start.
  const config = configFile
    ? loadConfigFile(configFile)
    : embeddedConfig({
        ...(dataDir ? { dataDir } : {}),
        operatorToken: env.CHAT_OPERATOR_TOKEN ?? randomBytes(18).toString('base64url'),
      });
  if (configFile && env.CHAT_OPERATOR_TOKEN !== undefined)
    config.auth.operatorToken ??= env.CHAT_OPERATOR_TOKEN;
  if (env.CHAT_API_KEYS !== undefined) config.api.keys = parseApiKeys(env.CHAT_API_KEYS);
  if (env.CHAT_TRANSPORT !== undefined) config.transport = env.CHAT_TRANSPORT;
  const region = selectRegion(config, env.CHAT_REGION);
  applyServiceSecrets(region, env);
  if (env.CHAT_HOST) region.gateway.host = env.CHAT_HOST;
  return {
    config,
    region,
    workerId:
      env.CHAT_WORKER_ID === WORKER_ID_FROM_ORDINAL ? workerIdFromHostname(hostname()) : env.CHAT_WORKER_ID,
    port: env.CHAT_PORT,
    dataDir,
    configFile,
    logLevel: env.CHAT_LOG_LEVEL ?? config.log.level,
  };
}

/** `chat-us-east-7` → 7; anything without a trailing ordinal in 0..MAX_WORKER_ID is refused. */
export function workerIdFromHostname(name: string): number {
  const match = /-(\d+)$/.exec(name);
  const id = match ? Number(match[1]) : Number.NaN;
  if (!Number.isInteger(id) || id > MAX_WORKER_ID) {
    const path = 'env.CHAT_WORKER_ID';
    throw new ConfigError(
      `${path}: "${WORKER_ID_FROM_ORDINAL}" needs a host name ending in -0..-${MAX_WORKER_ID} (a StatefulSet pod's); this one is "${name}"`,
      path,
    );
  }
  return id;
}

/** `name:key,name:key` (already checked by the env schema) → the `api.keys` record. */
export function parseApiKeys(value: string): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const at = pair.indexOf(':');
    keys[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return keys;
}
