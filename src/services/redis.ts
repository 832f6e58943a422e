/**
 * The one place a Redis client is configured: presence, the dedup arbiter and the Socket.IO
 * adapter all connect through `createRedis`, so credentials, TLS and Sentinel apply to every
 * connection alike (docs/operations.md, "Credentials and TLS").
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/services.ts';
import { ServiceStartError } from '../errors.ts';
import { tlsConnectionOptions, withTlsRefusalHint } from './tls.ts';

/**
 * Where and how to reach Redis: the region's `redis` config block. Tests and tools may pass just
 * `{ url }`.
 */
export type RedisConnection = Omit<RedisConfig, 'tls' | 'sentinel'> & {
  tls?: Partial<NonNullable<RedisConfig['tls']>> | undefined;
  sentinel?:
    | (Omit<NonNullable<RedisConfig['sentinel']>, 'tls' | 'sentinels'> & {
        sentinels: { host: string; port?: number | undefined }[];
        tls?: boolean | undefined;
      })
    | undefined;
};

/** Config path of the block, for errors about its files. */
const WHERE = 'redis';

/** ioredis options for `c` (no URL string: a `rediss://` url is taken apart here, so its TLS gets the CA). */
export function redisOptions(c: RedisConnection): RedisOptions {
  const opts: RedisOptions = {};
  let tls = c.tls !== undefined;
  if (c.url !== undefined) {
    const u = new URL(c.url);
    tls ||= u.protocol === 'rediss:';
    opts.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    opts.port = u.port === '' ? 6379 : Number(u.port);
    if (u.username !== '') opts.username = decodeURIComponent(u.username);
    if (u.password !== '') opts.password = decodeURIComponent(u.password);
    if (u.pathname.length > 1) opts.db = Number(u.pathname.slice(1));
  }
  if (c.username !== undefined) opts.username = c.username;
  if (c.password !== undefined) opts.password = c.password;
  const tlsOptions = tls ? tlsConnectionOptions(c.tls, `${WHERE}.tls`) : undefined;
  if (c.sentinel) {
    const s = c.sentinel;
    opts.sentinels = s.sentinels.map((x) => ({ host: x.host, port: x.port ?? 26379 }));
    opts.name = s.name;
    if (s.username !== undefined) opts.sentinelUsername = s.username;
    if (s.password !== undefined) opts.sentinelPassword = s.password;
    // The Sentinels are verified with the same CA and present the same client certificate.
    if (s.tls) opts.sentinelTLS = tlsConnectionOptions(c.tls, `${WHERE}.tls`);
    if (tlsOptions) opts.enableTLSForSentinelMode = true;
  }
  if (tlsOptions) opts.tls = tlsOptions;
  return opts;
}

/** A client for `c`, with the caller's own options (timeouts, lazyConnect) on top. */
export function createRedis(c: RedisConnection, extra: RedisOptions = {}): Redis {
  const client = new Redis({ ...redisOptions(c), ...extra });
  // First listener, so the callers' loggers see the error already redacted.
  client.on('error', redactCredentials);
  return client;
}

/** Commands whose arguments carry a password. */
const CREDENTIAL_COMMANDS = new Set(['auth', 'hello']);

/**
 * ioredis attaches the failed command to its errors (`err.command.args`): for a refused AUTH that
 * is the password, which a logged error would then print. Replaces those arguments in place.
 */
export function redactCredentials(err: unknown): void {
  const command = (err as { command?: { name?: unknown; args?: unknown } } | null)?.command;
  if (command && typeof command.name === 'string' && CREDENTIAL_COMMANDS.has(command.name.toLowerCase()))
    command.args = ['[redacted]'];
}

/** Where `c` points, without credentials: for logs and startup errors. */
export function describeRedis(c: RedisConnection): string {
  if (c.sentinel) {
    const hosts = c.sentinel.sentinels.map((s) => `${s.host}:${s.port ?? 26379}`).join(',');
    return `sentinel ${c.sentinel.name} via ${hosts}`;
  }
  const u = new URL(c.url ?? 'redis://');
  return `${u.protocol}//${u.host}`;
}

/** After the first error, how long further ones are gathered: a TLS refusal often shows first as ECONNRESET, its reason a moment later. */
const ERROR_GATHER_MS = 100;

/**
 * Connects `client` (made with `lazyConnect`) for the first time. The first error fails the start
 * — ioredis would otherwise retry a refused password or certificate forever (with Sentinel), or
 * report only "Connection is closed" — as a `ServiceStartError` carrying the real reason.
 */
export async function connectRedis(client: Redis, c: RedisConnection, component: string): Promise<void> {
  const errors: Error[] = [];
  const onError = (err: Error) => {
    redactCredentials(err);
    errors.push(err);
  };
  let failing = false;
  let fail: () => void = () => {};
  client.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      fail = () => {
        if (failing) return;
        failing = true;
        setTimeout(reject, ERROR_GATHER_MS);
      };
      client.on('error', fail);
      client.connect().then(resolve, (err: Error) => {
        redactCredentials(err);
        errors.push(err);
        fail();
      });
    });
  } catch {
    // The socket may still report its TLS alert after ioredis let go of it: not an uncaught error.
    client.stream?.on('error', () => {});
    client.disconnect();
    throw new ServiceStartError(
      'redis',
      component,
      describeRedis(c),
      gathered(errors, client.options.tls !== undefined),
    );
  } finally {
    client.off('error', onError);
    client.off('error', fail);
  }
}

/** The distinct messages, in order (ioredis's own "Connection is closed." last). */
function gathered(errors: Error[], tls: boolean): Error {
  const closed = 'Connection is closed.';
  const messages = [...new Set(errors.map((e) => e.message.trim()))];
  const ordered = [...messages.filter((m) => m !== closed), ...messages.filter((m) => m === closed)];
  const text = ordered.join('; ');
  return new Error(tls ? withTlsRefusalHint(text) : text, { cause: errors[0] });
}
