/**
 * Turns a service's `tls` config block into Node's TLS options. The PEM files are read once, when
 * the connection is configured: a missing file stops the start naming the file and the config
 * field, rather than failing later on every reconnect.
 */
import { readFileSync } from 'node:fs';
import type { TlsConfig } from '../config/services.ts';
import { ConfigError } from '../errors.ts';

function readPem(file: string, path: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`${path}: cannot read ${file}: ${(cause as Error).message}`, path, { cause });
  }
}

/**
 * Under TLS 1.3 a server checks the client's certificate after the handshake has completed on
 * the client's side: a refusal then often reaches the client only as a reset connection (the
 * alert naming the reason is lost). Appends what that usually means to such a message.
 */
export function withTlsRefusalHint(message: string): string {
  if (/certificate|alert/i.test(message) || !/ECONNRESET|EPIPE|TIMEOUT|Connection is closed/.test(message))
    return message;
  return `${message} (the connection ended right after the TLS handshake: the server may have refused our client certificate, see its log)`;
}

/** What every driver here takes: PEM text, and Node's verification switches. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

/**
 * `where` is the config path of the block (`regions.<name>.redis.tls`), for the error. Without a
 * block, plain defaults: the system's roots verify the server.
 */
export function tlsConnectionOptions(tls: Partial<TlsConfig> | undefined, where: string): TlsMaterial {
  const t = tls ?? {};
  return {
    rejectUnauthorized: t.rejectUnauthorized ?? true,
    ...(t.caFile !== undefined ? { ca: readPem(t.caFile, `${where}.caFile`) } : {}),
    ...(t.certFile !== undefined ? { cert: readPem(t.certFile, `${where}.certFile`) } : {}),
    ...(t.keyFile !== undefined ? { key: readPem(t.keyFile, `${where}.keyFile`) } : {}),
    ...(t.servername !== undefined ? { servername: t.servername } : {}),
  };
}
