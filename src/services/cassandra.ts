/**
 * Credentials and TLS of the Cassandra driver (docs/operations.md, "Credentials and TLS"): the
 * store's session and `npm run migrate` build their client options here.
 */
import cassandra, { type ClientOptions } from 'cassandra-driver';
import type { CassandraConfig } from '../config/services.ts';
import { tlsConnectionOptions } from './tls.ts';

/** The credentials and TLS part of the region's `cassandra` block. */
export interface CassandraSecurity {
  /** For a cluster with `authenticator: PasswordAuthenticator`. */
  username?: string | undefined;
  password?: string | undefined;
  /** Client-to-node encryption. */
  tls?: Partial<NonNullable<CassandraConfig['tls']>> | undefined;
}

/** `authProvider` and `sslOptions` for the driver; empty when neither is configured. */
export function cassandraSecurityOptions(
  s: CassandraSecurity,
): Pick<ClientOptions, 'authProvider' | 'sslOptions'> {
  return {
    ...(s.username !== undefined
      ? { authProvider: new cassandra.auth.PlainTextAuthProvider(s.username, s.password ?? '') }
      : {}),
    ...(s.tls !== undefined ? { sslOptions: tlsConnectionOptions(s.tls, 'cassandra.tls') } : {}),
  };
}
