/**
 * The one place a NATS connection is configured: routing, cross-region presence, the replication
 * link and the webhook queue all connect through `connectNats`, so credentials and TLS apply to
 * every connection alike (docs/operations.md, "Credentials and TLS").
 */
import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  type TlsOptions,
} from 'nats';
import type { NatsConfig } from '../config/services.ts';
import { ConfigError, ServiceStartError } from '../errors.ts';
import { tlsConnectionOptions, withTlsRefusalHint } from './tls.ts';

/**
 * Where NATS is and how to authenticate: the region's `nats` block. Tests and tools may pass just
 * `{ servers }`.
 */
export type NatsTarget = Pick<NatsConfig, 'servers'> &
  Partial<Pick<NatsConfig, 'user' | 'password' | 'token' | 'credsFile' | 'nkeySeedFile'>> & {
    tls?: Partial<NonNullable<NatsConfig['tls']>> | undefined;
  };

/** Config path of the block, for errors about its files. */
const WHERE = 'nats';

function readSecretFile(file: string, path: string, trim: boolean): Uint8Array {
  try {
    const text = readFileSync(file, 'utf8');
    return new TextEncoder().encode(trim ? text.trim() : text);
  } catch (cause) {
    throw new ConfigError(`${path}: cannot read ${file}: ${(cause as Error).message}`, path, { cause });
  }
}

/** The credentials and TLS part of nats.js's connect options for `t`. */
export function natsAuthOptions(t: NatsTarget): ConnectionOptions {
  const opts: ConnectionOptions = {};
  if (t.user !== undefined) opts.user = t.user;
  if (t.password !== undefined) opts.pass = t.password;
  if (t.token !== undefined) opts.token = t.token;
  if (t.credsFile !== undefined)
    // Untrimmed: nats.js finds the JWT and seed by the newline that ends each block's last line.
    opts.authenticator = credsAuthenticator(readSecretFile(t.credsFile, `${WHERE}.credsFile`, false));
  if (t.nkeySeedFile !== undefined)
    opts.authenticator = nkeyAuthenticator(readSecretFile(t.nkeySeedFile, `${WHERE}.nkeySeedFile`, true));
  // A `tls` block, or `tls://` servers: TLS with our CA and client certificate if given. (nats.js
  // upgrades to TLS by itself whenever the server requires it, verifying with the system roots.)
  if (t.tls !== undefined || t.servers.some((s) => s.startsWith('tls://'))) {
    const material: TlsOptions = tlsConnectionOptions(t.tls, `${WHERE}.tls`);
    opts.tls = material;
  }
  return opts;
}

/** A TLS refusal of our client certificate shows as a timeout: say what that usually means. */
function explain(err: unknown, tls: boolean): unknown {
  if (!tls || !(err instanceof Error)) return err;
  const message = withTlsRefusalHint(err.message);
  return message === err.message ? err : new Error(message, { cause: err });
}

/**
 * Opens a NATS connection to `t` with the caller's own options (name, reconnect policy) and the
 * configured credentials and TLS. A refusal (bad credentials, an untrusted certificate, no
 * server) fails the start as a `ServiceStartError` naming `component`.
 */
export async function connectNats(
  t: NatsTarget,
  base: Omit<ConnectionOptions, 'servers'>,
  component: string,
): Promise<NatsConnection> {
  const options = { ...base, ...natsAuthOptions(t), servers: t.servers };
  try {
    return await connect(options);
  } catch (err) {
    throw new ServiceStartError(
      'nats',
      component,
      t.servers.join(','),
      explain(err, options.tls !== undefined),
    );
  }
}
