/**
 * How a region reaches its backing services — Cassandra, Redis, NATS — including credentials and
 * TLS (docs/operations.md, "Credentials and TLS"). Part of the config schema (schema.ts); the
 * secrets here may instead come from environment variables (env.ts), so that a Kubernetes Secret
 * can feed them and the config file holds none.
 */
import { z } from 'zod';

/**
 * TLS towards a service. Files are PEM, read once at startup; a missing or unreadable one stops
 * the start naming the file. Without `ca` the system's trusted roots verify the server.
 */
export const tlsSchema = z.object({
  /** The CA(s) that signed the server's certificate. */
  caFile: z.string().min(1).optional(),
  /** A client certificate and its key, for servers that require one (mutual TLS). */
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  /** The name the server's certificate must carry, when it differs from the host connected to. */
  servername: z.string().min(1).optional(),
  /** Off only to try things out: any certificate is then accepted, including an attacker's. */
  rejectUnauthorized: z.boolean().default(true),
});

const withClientPair = <T extends { certFile?: string | undefined; keyFile?: string | undefined }>(t: T) =>
  (t.certFile === undefined) === (t.keyFile === undefined);
const clientPairMessage = { message: 'certFile and keyFile go together', path: ['certFile'] };

export const serviceTlsSchema = tlsSchema.refine(withClientPair, clientPairMessage);

export const cassandraSchema = z.object({
  contactPoints: z.array(z.string().min(1)).min(1),
  port: z.number().int().min(1).max(65535).default(9042),
  localDataCenter: z.string().min(1),
  keyspace: z.string().regex(/^[a-z][a-z0-9_]{0,47}$/, 'lowercase letters, digits and _'),
  /** Replicas per datacenter when the keyspace is created. */
  replicationFactor: z.number().int().min(1).default(1),
  /** For a cluster with `authenticator: PasswordAuthenticator`. Env: CHAT_CASSANDRA_USERNAME/PASSWORD. */
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** Client-to-node encryption (the cluster's `client_encryption_options`). */
  tls: serviceTlsSchema.optional(),
});

const REDIS_URL = /^rediss?:\/\//;

export const redisSentinelSchema = z.object({
  /** The Sentinels to ask for the current primary (any one answering is enough). */
  sentinels: z
    .array(z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535).default(26379) }))
    .min(1),
  /** The primary's name as the Sentinels know it (`sentinel monitor <name> …`). */
  name: z.string().min(1),
  /** The Sentinels' own credentials (`requirepass` / ACL user on the Sentinels), if any. */
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** TLS to the Sentinels, too (the primary's TLS is `redis.tls` or a `rediss://` url). */
  tls: z.boolean().default(false),
});

/**
 * Redis: one server (`url`), or the primary that Sentinels name (`sentinel`). Credentials go in
 * the url (`redis://user:pass@host:6379`) or in `username`/`password` (which win, and which the
 * environment can set); `rediss://` or a `tls` block turns TLS on.
 */
export const redisSchema = z
  .object({
    url: z.string().regex(REDIS_URL, 'redis:// or rediss:// URL').optional(),
    sentinel: redisSentinelSchema.optional(),
    /** An ACL user (Redis 6+); with only a password, the `default` user (`requirepass`). */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    tls: serviceTlsSchema.optional(),
  })
  .refine((r) => (r.url === undefined) !== (r.sentinel === undefined), {
    message: 'redis needs a url or a sentinel block (one of them)',
  });

/**
 * NATS credentials: one way of authenticating, as the server's `authorization` / `accounts`
 * blocks expect. Env: CHAT_NATS_USER, CHAT_NATS_PASSWORD, CHAT_NATS_TOKEN.
 */
export const natsAuthFields = {
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  /** A `.creds` file (user JWT + nkey seed), decentralized auth. */
  credsFile: z.string().min(1).optional(),
  /** A file holding an nkey user seed (`SU…`): the server lists the user's public key. */
  nkeySeedFile: z.string().min(1).optional(),
  /** TLS to the servers (`tls://` urls, or servers with `tls {}`); client cert for `verify: true`. */
  tls: serviceTlsSchema.optional(),
};

/**
 * Whether user and password come as a pair, and at most one way of authenticating is chosen, is
 * checked once the environment's secrets are merged in (service-env.ts): either half may come
 * from either place.
 */
export const natsSchema = z.object({
  servers: z.array(z.string().min(1)).min(1),
  /**
   * Only for `npm run cluster`, which starts this region's NATS server: its cluster and
   * supercluster-gateway listen ports. Deployed servers are configured on their own.
   */
  clusterPort: z.number().int().min(1).max(65535).optional(),
  gatewayPort: z.number().int().min(1).max(65535).optional(),
  ...natsAuthFields,
});

export type TlsConfig = z.infer<typeof tlsSchema>;
export type CassandraConfig = z.infer<typeof cassandraSchema>;
export type RedisConfig = z.infer<typeof redisSchema>;
export type RedisSentinelConfig = z.infer<typeof redisSentinelSchema>;
export type NatsConfig = z.infer<typeof natsSchema>;
