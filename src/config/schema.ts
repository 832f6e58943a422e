/**
 * The deployment config: regions, limits and auth. Parsed once at startup; every timeout and
 * limit is here so tests and operators can change them without code.
 */
import { z } from 'zod';
import { MAX_HISTORY_LIMIT } from '../storage/types.ts';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/event-types.ts';
import { cassandraSchema, natsSchema, redisSchema } from './services.ts';

export type { CassandraConfig, NatsConfig, RedisConfig, TlsConfig } from './services.ts';

/** Largest text frame a client may send (bytes). 64 KiB fits any chat message with room to spare. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
/** Largest message body (characters). Well under the frame limit so JSON escaping never overflows it. */
export const DEFAULT_MAX_BODY_CHARS = 8000;

/** pino's levels; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const hostPort = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535),
});

export const regionSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'lowercase letters, digits and -'),
  /** Goes into every message id minted in this region (5 bits). */
  id: z.number().int().min(0).max(31),
  gateway: hostPort.extend({
    /** Public URLs of this region's gateways, for clients failing over between regions. */
    publicUrls: z.array(z.string()).default([]),
  }),
  /** Omitted → embedded LMDB store in `dataDir`. */
  cassandra: cassandraSchema.optional(),
  /** Omitted → in-process presence. */
  redis: redisSchema.optional(),
  /** Omitted → in-process routing. */
  nats: natsSchema.optional(),
  dataDir: z.string().default('data'),
  /**
   * Moving this region's data to another store without downtime (docs/operations.md, "Moving a
   * region to a new store"): the store it moves to. The gateways then run both stores and follow
   * the phase the migration command sets; unset, the region runs its one store as before.
   */
  storeMigration: z
    .object({
      to: z.union([z.object({ cassandra: cassandraSchema }), z.object({ dataDir: z.string().min(1) })]),
      /** How often each gateway reads the phase: every gateway follows a change within this. */
      pollMs: z.number().int().min(100).default(2000),
      /**
       * Where the phase is kept in a region without Redis (default `<dataDir>/store-migration.json`);
       * a region with Redis keeps it under `chat:<region>:store-migration`.
       */
      phaseFile: z.string().optional(),
    })
    .optional(),
});

export const limitsSchema = z
  .object({
    maxFrameBytes: z.number().int().min(512).default(DEFAULT_MAX_FRAME_BYTES),
    maxBodyChars: z.number().int().min(1).default(DEFAULT_MAX_BODY_CHARS),
    /** Frames per second a connection may sustain (token bucket refill rate). */
    rateLimitPerSec: z.number().positive().default(50),
    /** Bucket size: a short burst above the sustained rate is fine (a client resending its outbox). */
    rateLimitBurst: z.number().int().min(1).default(100),
    /** Rate-limited frames tolerated within one refill window before the connection is closed 4429. */
    floodStrikes: z.number().int().min(1).default(50),
    /** uWS idle timeout; clients ping at least this often. */
    idleTimeoutSec: z.number().int().min(8).default(120),
    /** Bytes queued to a slow socket before it is closed 4509 (it resumes from its last id). */
    maxBackpressureBytes: z
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024),
    /** How long SIGTERM waits for in-flight writes before closing sockets. */
    drainTimeoutMs: z.number().int().min(0).default(10_000),
    /**
     * How long a stop waits for each step of releasing the backing services (unregistering the
     * connections, then Socket.IO and replication, then routing, presence and storage) before
     * it logs the step as cut short and moves on: with Redis, NATS or Cassandra down a step
     * would wait on reconnects. A stop takes at most `drainTimeoutMs` + 3 × this.
     */
    closeTimeoutMs: z.number().int().min(0).default(5000),
    /** Membership answers are cached this long per gateway; bounds how stale an ACL check can be. */
    membershipCacheMs: z.number().int().min(0).default(2000),
    /** Most messages a reconnecting client is replayed before it must page history itself. */
    maxResumeMessages: z.number().int().min(1).default(10_000),
    /**
     * Sends one gateway has waiting on the store at once. Past it, a send is answered
     * `unavailable` at once (retry with the same clientMsgId) rather than queued behind the
     * others: under overload latency stays bounded and the store is not pushed further.
     */
    maxInFlightSends: z.number().int().min(1).default(512),
    maxGroupMembers: z.number().int().min(2).default(1000),
    /**
     * How long after sending a message its sender may edit it (`edit_window_passed` after). A
     * delete has no window. 15 minutes: long enough to fix a typo or a wrong word, short enough
     * that an old conversation is not rewritten (WhatsApp's choice; Slack and Discord set none).
     */
    editWindowMs: z
      .number()
      .int()
      .min(0)
      .default(15 * 60_000),
    /**
     * Distinct emoji one message may carry (a `react` with a new one past it is
     * `too_many_reactions`); each reacting user counts once per emoji. Bounds the row and every
     * update frame of a message; Slack's limit is 23 distinct, Discord's 20.
     */
    maxReactionsPerMessage: z.number().int().min(1).default(20),
    /**
     * Most messages one `history` request returns; a larger `limit` is lowered to it. Below the
     * store's largest page (`MAX_HISTORY_LIMIT`), since the gateway reads one more row to tell
     * the client `hasMore` (at the store's cap that row was cut and `hasMore` was always false).
     */
    maxHistoryLimit: z
      .number()
      .int()
      .min(1)
      .max(MAX_HISTORY_LIMIT - 1)
      .default(200),
    /** Users one connection may watch with `subscribePresence` (each costs a map entry per gateway). */
    maxPresenceSubscriptions: z.number().int().min(1).default(1000),
    /**
     * A connection's `typing` is fanned out at most once per conversation per this interval; extra
     * ones are coalesced (dropped without an error). Typing is announced on keystrokes, so this
     * caps the fan-out a fast typist causes in a large group.
     */
    typingIntervalMs: z.number().int().min(0).default(2000),
    /**
     * How long a typing indicator lasts (`expiresAt` = now + this). Longer than the interval, so
     * an indicator refreshed by continued typing does not flicker.
     */
    typingTtlMs: z.number().int().min(100).default(5000),
    /**
     * A gateway whose store, presence (Redis), routing or replication (NATS) has failed every
     * probe for this long stops being ready (`/readyz` 503) and, when other regions exist, sends
     * its clients to them (close 4503). Longer than a Redis or NATS reconnect (a second or two),
     * short enough that users move well within 10 s.
     */
    unhealthyAfterMs: z.number().int().min(100).default(5000),
    /** How often the gateway probes its backing services (each probe bounded, see `/readyz`). */
    healthCheckIntervalMs: z.number().int().min(50).default(1000),
  })
  .prefault({});

export const authSchema = z
  .object({
    /** HS256 shared secret. */
    secret: z.string().min(16).optional(),
    /** PEM (SPKI) public key for RS256 / ES256 tokens. */
    publicKey: z.string().optional(),
    algorithms: z
      .array(z.enum(['HS256', 'RS256', 'ES256']))
      .min(1)
      .default(['HS256']),
    issuer: z.string().optional(),
    audience: z.string().optional(),
    /** Serve GET /dev/token?user=… minting HS256 tokens. Never enable with real users. */
    devTokens: z.boolean().default(false),
    devTokenTtlSec: z
      .number()
      .int()
      .min(60)
      .default(24 * 3600),
    /**
     * Static secret for the live operations dashboard (`/dashboard`, checked on the upgrade of
     * `/dashboard/ws?token=`). Absent: the dashboard refuses everyone. `npm start` (embedded mode)
     * generates one per run and prints it, unless CHAT_OPERATOR_TOKEN sets it.
     */
    operatorToken: z.string().min(16).optional(),
  })
  .prefault({})
  .refine((a) => a.secret !== undefined || a.publicKey !== undefined, {
    message: 'auth needs a secret (HS256) or a publicKey (RS256/ES256)',
  });

export const presenceSchema = z
  .object({
    /** A crashed gateway's users show offline after at most this long. */
    ttlMs: z.number().int().min(500).default(30_000),
    heartbeatMs: z.number().int().min(100).default(10_000),
  })
  .prefault({});

export const directorySchema = z
  .object({
    /** userId → home region name, for users who must live in a given region. */
    pins: z.record(z.string(), z.string()).default({}),
    /** Moving users to another home region at runtime (docs/operations.md, src/homes/). */
    moves: z
      .object({
        /** How often each gateway re-reads the records of moves not finished into its directory. */
        refreshMs: z.number().int().min(50).default(2000),
        /**
         * How often it re-reads every record instead (a row per user ever moved): the safety net
         * for a finished move whose end it did not see otherwise.
         */
        fullRefreshMs: z.number().int().min(50).default(60_000),
        /** Offline-queue entries per copy event (one replication event each). */
        batchSize: z.number().int().min(1).max(1000).default(100),
        /** Wait after a phase is acknowledged: at least twice `refreshMs`, for every gateway's directory. */
        settleMs: z.number().int().min(0).default(5000),
        /** How long both homes keep queueing after cutover, for writes routed by a stale directory. */
        graceMs: z.number().int().min(0).default(30_000),
        /** Verification rounds at most (before cutover, and at cleanup). */
        verifyRounds: z.number().int().min(1).default(20),
        roundDelayMs: z.number().int().min(0).default(1000),
        /** How long the new home may take to answer before the move fails (or stops, after cutover). */
        replyTimeoutMs: z.number().int().min(100).default(120_000),
        /** How often the old home's store is read for an answer. */
        pollMs: z.number().int().min(10).default(100),
        /** Moves one gateway drives at once. */
        concurrency: z.number().int().min(1).default(8),
        /**
         * A move whose record has not changed for this long, in a phase before `done`, lost its
         * driver (a gateway killed mid-move): the region's worker 0 resumes it from its phase.
         * Longer than the quietest stretch of a live move (checked below).
         */
        resumeAfterMs: z.number().int().min(1000).default(300_000),
      })
      .prefault({})
      .superRefine((m, ctx) => {
        const quietest = m.replyTimeoutMs + Math.max(m.graceMs, m.settleMs) + m.settleMs + m.roundDelayMs;
        if (m.resumeAfterMs <= quietest) {
          ctx.addIssue({
            code: 'custom',
            path: ['resumeAfterMs'],
            message: `must exceed replyTimeoutMs + max(graceMs, settleMs) + settleMs + roundDelayMs (${quietest}): a live move can be quiet that long`,
          });
        }
      }),
  })
  .prefault({});

export const replicationSchema = z
  .object({
    /** How long a region's outbox keeps messages for a region that is down. */
    outboxMaxAgeMs: z
      .number()
      .int()
      .min(60_000)
      .default(7 * 24 * 3600 * 1000),
    /** JetStream duplicate window: republishing the same message id within it is a no-op. */
    duplicateWindowMs: z
      .number()
      .int()
      .min(1000)
      .default(10 * 60 * 1000),
    /** How often each gateway re-announces its online users to other regions. */
    presenceRefreshMs: z.number().int().min(100).default(10_000),
  })
  .prefault({});

/** How far a resume reads back from a position (docs/protocol.md, "Resume positions"). */
export const resumeSchema = z
  .object({
    /**
     * How far frames of one region may overtake each other between being made visible and
     * reaching a socket (fan-out across the region's gateways). A replay from position T reads
     * everything that became visible since T minus this.
     */
    lookbackMs: z.number().int().min(0).default(5000),
    /**
     * Added to `lookbackMs` when the position was issued by another region (the device moved):
     * this region cannot know what the other had made visible, only that replication between
     * regions normally runs less than this far behind.
     */
    crossRegionLookbackMs: z.number().int().min(0).default(300_000),
    /**
     * Open connections a gateway replays to at once when it resyncs them itself (after its NATS
     * connection came back, or another gateway of the region died): each replay reads the store,
     * so a gateway with many connections must not start them all at once.
     */
    resyncConcurrency: z.number().int().min(1).max(256).default(8),
  })
  .prefault({});

export const dashboardSchema = z
  .object({
    /**
     * Alert when errors ÷ requests over the window pass this share (0.05 = 5%). Requests are client
     * frames received plus connection attempts; errors are error frames, abuse closes and refused
     * upgrades.
     */
    errorRateAlert: z.number().min(0).max(1).default(0.05),
    /** Fewer requests than this in the window never alert: one failure out of three is not an outage. */
    errorRateMinRequests: z.number().int().min(1).default(20),
    /** Sliding window (seconds) for the error rate and the latency percentiles. */
    windowSec: z.number().int().min(1).max(300).default(10),
    /** How often a sample is pushed to open dashboards (ms). */
    intervalMs: z.number().int().min(100).default(1000),
    /**
     * A peer region is shown unreachable (and alerts) when its JetStream inbox does not answer, or
     * this region's inbox has not heard from its outbox for this long. Sourcing heartbeats every
     * few seconds while the link is up, so 15 s is several missed heartbeats.
     */
    regionUnreachableMs: z.number().int().min(1000).default(15_000),
    /**
     * The deployment view (every gateway of every region, published each `intervalMs` on
     * `stats.<region>.<gatewayId>`) shows a gateway gone after this long without its figures:
     * five missed seconds, longer than a NATS reconnect or a GC pause, shorter than a restart.
     */
    fleetGoneMs: z.number().int().min(1000).default(5000),
  })
  .prefault({});

/** Files uploaded to conversations (docs/operations.md, "Attachments"). */
export const attachmentsSchema = z
  .object({
    /** Largest upload in bytes; bigger ones are refused 413 (by Content-Length, or once the body passes it). */
    maxBytes: z
      .number()
      .int()
      .min(1)
      .default(10 * 1024 * 1024),
    /**
     * Content types an upload may declare (exact, lowercase, no parameters); others are refused
     * 415. Images here get width and height. No HTML or SVG by default: served back to browsers
     * they could run script in the gateway's origin.
     */
    allowedTypes: z
      .array(z.string().regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/, 'type/subtype, lowercase'))
      .min(1)
      .default(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain']),
    /** Attachments one message may reference. */
    maxPerMessage: z.number().int().min(1).max(64).default(10),
    /**
     * An upload taking longer than this is abandoned (408) and its chunks removed; the sweeper
     * removes uploads whose gateway died after twice this long, so it never cuts one in progress.
     */
    uploadTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(10 * 60_000),
    /** How often each gateway sweeps abandoned uploads' chunks. */
    sweepIntervalMs: z
      .number()
      .int()
      .min(1000)
      .default(10 * 60_000),
  })
  .prefault({});

/** An API key's name: what logs and the audit of API calls show instead of the key. */
export const API_KEY_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The server API (`/api`, docs/operations.md, "Server API"). No keys: the API is off (404). */
export const apiSchema = z
  .object({
    /**
     * Named keys (name → secret) an app backend sends as `Authorization: Bearer <key>`. Secrets
     * like `auth.secret`: keep them out of version control (`CHAT_API_KEYS` sets them instead).
     * At least 24 characters, so a key cannot be guessed online.
     */
    keys: z
      .record(z.string().regex(API_KEY_NAME, 'lowercase letters, digits, _ and -'), z.string().min(24))
      .default({}),
    /**
     * Also accept a JWT signed with the auth key whose claim of this name is `true` (an operator
     * tool that already mints tokens). Only while at least one key is configured.
     */
    adminClaim: z.string().min(1).default('admin'),
    /** Largest request body (bytes); bigger ones are refused 413 `too_large`. */
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .default(256 * 1024),
    /**
     * How often each gateway rereads the revocation list from the store, on top of the pushed
     * updates: bounds how long a revocation whose push was lost (a NATS blip) goes unnoticed.
     */
    revocationRefreshMs: z.number().int().min(100).default(30_000),
    /**
     * Calls per second each caller (an API key, an admin token's subject) may sustain on one
     * gateway, and the burst above it; over it, 429 `rate_limited` with `Retry-After`.
     */
    rateLimitPerSec: z.number().positive().default(200),
    rateLimitBurst: z.number().int().min(1).default(400),
  })
  .prefault({});

/** One receiver of webhooks (docs/operations.md, "Webhooks"). */
export const webhookEndpointSchema = z.object({
  /** Names the endpoint in metrics, dead letters and logs: part of queue keys, so kept simple. */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, _ and -'),
  url: z.url({ protocol: /^https?$/ }),
  /** HMAC-SHA256 key of the `Webhook-Signature` header; receivers verify with the same secret. */
  secret: z.string().min(16),
  /** The event types this endpoint receives (`WEBHOOK_EVENT_TYPES`). */
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1),
});

/** Durable webhooks: who receives which events, and how delivery retries. */
export const webhooksSchema = z
  .object({
    /** None (the default): nothing is queued, and the send path does no webhook work at all. */
    endpoints: z.array(webhookEndpointSchema).default([]),
    /**
     * Deliveries tried per event and endpoint before it goes to the dead letters. 8 attempts with
     * the default backoff span about 2 minutes: a receiver restart is ridden out, an outage is
     * left to the operator's replay.
     */
    attempts: z.number().int().min(1).max(100).default(8),
    /** Delay before the first retry; doubled per attempt (with jitter) up to `maxBackoffMs`. */
    baseBackoffMs: z.number().int().min(1).default(1000),
    maxBackoffMs: z.number().int().min(1).default(60_000),
    /** One POST's deadline; a receiver slower than this counts as a failed attempt. */
    timeoutMs: z.number().int().min(100).default(10_000),
    /** POSTs one gateway has in flight at once (every gateway of the region shares the queue). */
    concurrency: z.number().int().min(1).max(256).default(16),
  })
  .prefault({})
  .refine((w) => w.baseBackoffMs <= w.maxBackoffMs, {
    message: 'baseBackoffMs must not exceed maxBackoffMs',
    path: ['baseBackoffMs'],
  })
  .refine((w) => new Set(w.endpoints.map((e) => e.name)).size === w.endpoints.length, {
    message: 'duplicate endpoint name',
    path: ['endpoints'],
  });

/** How long messages are kept (docs/operations.md, "Retention and erasure"). */
export const retentionSchema = z
  .object({
    /**
     * Messages older than this many days are removed with their copies and attachments; 0 keeps
     * them forever. A conversation's own period (set through the server API) overrides it.
     */
    messagesDays: z.number().min(0).default(0),
    /** The same in seconds, for tests and short-lived deployments; set, it wins over messagesDays. */
    messagesSeconds: z.number().int().min(0).optional(),
    /** How often the region's first gateway (worker 0) sweeps expired messages. */
    sweepIntervalMs: z.number().int().min(100).default(3_600_000),
  })
  .prefault({});

export const logSchema = z
  .object({
    /** Least severe level written. `CHAT_LOG_LEVEL` overrides it. */
    level: z.enum(LOG_LEVELS).default('info'),
  })
  .prefault({});

/**
 * The gateway's HTTP + WebSocket server: `auto` = uWebSockets.js where its native build loads for
 * this Node, else `ws` + `node:http`; `uws` fails at start when it cannot load. CHAT_TRANSPORT
 * overrides it.
 */
export const TRANSPORTS = ['auto', 'uws', 'node'] as const;

export const configSchema = z
  .object({
    regions: z.array(regionSchema).min(1),
    transport: z.enum(TRANSPORTS).default('auto'),
    directory: directorySchema,
    replication: replicationSchema,
    limits: limitsSchema,
    auth: authSchema,
    presence: presenceSchema,
    resume: resumeSchema,
    dashboard: dashboardSchema,
    attachments: attachmentsSchema,
    api: apiSchema,
    webhooks: webhooksSchema,
    retention: retentionSchema,
    log: logSchema,
  })
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    const ids = new Set<number>();
    c.regions.forEach((r, i) => {
      if (names.has(r.name))
        ctx.addIssue({ code: 'custom', path: ['regions', i, 'name'], message: 'duplicate region name' });
      if (ids.has(r.id))
        ctx.addIssue({ code: 'custom', path: ['regions', i, 'id'], message: 'duplicate region id' });
      names.add(r.name);
      ids.add(r.id);
    });
    c.regions.forEach((r, i) => {
      if (c.regions.length > 1 && !r.nats) {
        ctx.addIssue({
          code: 'custom',
          path: ['regions', i, 'nats'],
          message: 'several regions need NATS to replicate',
        });
      }
    });
    for (const [user, region] of Object.entries(c.directory.pins)) {
      if (!names.has(region)) {
        ctx.addIssue({
          code: 'custom',
          path: ['directory', 'pins', user],
          message: `no region named ${region}`,
        });
      }
    }
    if (c.presence.heartbeatMs >= c.presence.ttlMs) {
      ctx.addIssue({ code: 'custom', path: ['presence', 'heartbeatMs'], message: 'must be less than ttlMs' });
    }
  });

export type ChatConfig = z.infer<typeof configSchema>;
export type RegionConfig = z.infer<typeof regionSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
export type AuthConfig = z.infer<typeof authSchema>;
export type ResumeConfig = z.infer<typeof resumeSchema>;
export type DashboardConfig = z.infer<typeof dashboardSchema>;
export type StoreMigrationConfig = NonNullable<RegionConfig['storeMigration']>;
export type AttachmentsConfig = z.infer<typeof attachmentsSchema>;
export type ApiConfig = z.infer<typeof apiSchema>;
export type WebhooksConfig = z.infer<typeof webhooksSchema>;
export type WebhookEndpointConfig = z.infer<typeof webhookEndpointSchema>;
export type RetentionConfig = z.infer<typeof retentionSchema>;

/** The global retention period in seconds (0: keep forever). */
export function globalRetentionSeconds(c: RetentionConfig): number {
  return c.messagesSeconds ?? Math.round(c.messagesDays * 24 * 3600);
}
