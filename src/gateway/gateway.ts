/**
 * One gateway process: an HTTP + WebSocket app (uWebSockets.js, or `ws` + `node:http` where no
 * native uWS build loads: `transport/`) serving `/ws` (the raw protocol, `ws-endpoint.ts`),
 * `/socket.io/` (the same operations over Socket.IO, `socketio.ts`) and the HTTP endpoints,
 * wired to storage, presence and routing.
 */

import { mountApi } from '../api/mount.ts';
import type { ChatConfig, RegionConfig } from '../config/schema.ts';
import { globalRetentionSeconds } from '../config/schema.ts';
import { CloseCode, closeReason } from '../errors.ts';
import { HomeMoveMetrics } from '../homes/metrics.ts';
import { HomeMoves } from '../homes/service.ts';
import type { Presence } from '../presence/types.ts';
import { caughtUp, type Replication, replicationSink } from '../replication/index.ts';
import type { ErasureService } from '../retention/erasure.ts';
import { retentionParts } from '../retention/gateway.ts';
import { RetentionPolicy } from '../retention/policy.ts';
import { retainingStorage } from '../retention/retaining-storage.ts';
import type { RetentionSweeper } from '../retention/sweeper.ts';
import type { Router } from '../routing/types.ts';
import type { Storage } from '../storage/types.ts';
import { delay } from '../util/deadline.ts';
import { componentLogger, type Logger } from '../util/log.ts';
import { SnowflakeGenerator } from '../util/snowflake.ts';
import type { Webhooks } from '../webhooks/index.ts';
import { registerAttachmentRoutes } from './attachment-routes.ts';
import { Authenticator } from './auth.ts';
import { ChatService } from './chat-service.ts';
import { BackendHealth } from './health.ts';
import { registerHttpRoutes } from './http.ts';
import { Hub } from './hub.ts';
import { LocalTopics } from './local-topics.ts';
import { GatewayMetrics } from './metrics.ts';
import { PresenceWatchers } from './presence-watchers.ts';
import { Resync } from './resync.ts';
import { SessionEnds } from './session-ends.ts';
import { Sessions } from './sessions.ts';
import { CLOSE_FLUSH_MS, closePhase } from './shutdown.ts';
import { SocketIoEndpoint } from './socketio.ts';
import { createTransport } from './transport/select.ts';
import type { HttpApp, Transport } from './transport/types.ts';
import { registerWsEndpoint } from './ws-endpoint.ts';

export interface GatewayDeps {
  config: ChatConfig;
  region: RegionConfig;
  storage: Storage;
  presence: Presence;
  router: Router;
  /** Unique per gateway within a region (goes into message ids). */
  workerId: number;
  /** When given, must be the router's `gatewayId` (what other gateways address it by). */
  gatewayId?: string;
  /** Overrides `region.gateway.port` (0 = any free port). */
  port?: number;
  /** Cross-region replication, when the config has several regions. */
  replication?: Replication;
  /** Bound to this gateway's region and id (see `startGateway`); each component adds its name. */
  log: Logger;
  /** Webhooks, when the config names endpoints: started (queue open) by `startGateway`. */
  webhooks?: Webhooks;
}

export class Gateway {
  readonly gatewayId: string;
  readonly metrics = new GatewayMetrics();
  readonly hub: Hub;
  readonly chat: ChatService;
  readonly auth: Authenticator;
  readonly watchers: PresenceWatchers;
  readonly sessions: Sessions;
  readonly socketIo: SocketIoEndpoint;
  /** Background probes of the backing services: readiness, and when to send clients away. */
  readonly health: BackendHealth;
  /** Replays to open connections what live delivery lost (NATS gap, a dead gateway). */
  readonly resync: Resync;
  /** Token revocations and operators' disconnects (`session-ends.ts`). */
  readonly sessionEnds: SessionEnds;
  /** The gateway's own log (component `gateway`). */
  readonly log: Logger;
  /** The HTTP + WebSocket server (`config.transport`, chosen in `transport/select.ts`). */
  readonly transport: Transport;
  private readonly app: HttpApp;
  private heartbeat: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly stopHooks: (() => void)[] = [];
  /** Which messages have expired (`src/retention/`): every read of the gateway's store checks it. */
  readonly retention: RetentionPolicy;
  readonly retentionSweeper: RetentionSweeper;
  /** Erasing a user's messages in every region (server API `erasure` routes). */
  readonly erasure: ErasureService;
  /** Moving users to another home region (server API `home-moves` routes); null with one region. */
  readonly homeMoves: HomeMoves | null;
  port = 0;

  constructor(readonly deps: GatewayDeps) {
    // Reads never return an expired message, swept or not yet (retaining-storage.ts).
    this.retention = new RetentionPolicy(
      deps.storage.retention,
      globalRetentionSeconds(deps.config.retention),
    );
    deps = { ...deps, storage: retainingStorage(deps.storage, this.retention) };
    this.deps = deps;
    // Other gateways publish to this one by the id its router listens for.
    this.gatewayId = deps.router.gatewayId;
    if (deps.gatewayId !== undefined && deps.gatewayId !== this.gatewayId) {
      throw new Error(`gatewayId ${deps.gatewayId} is not its router's (${this.gatewayId})`);
    }
    const log = deps.log;
    this.log = componentLogger(log, 'gateway');
    const selected = createTransport(deps.config.transport);
    this.transport = selected.transport;
    this.app = selected.transport.app;
    this.log.info(
      { transport: this.transport.name, why: selected.reason },
      `transport: ${this.transport.name}`,
    );
    this.metrics.transportInfo.set({ transport: this.transport.name }, 1);
    deps.webhooks?.bindMetrics(this.metrics.registry);
    const limits = deps.config.limits;
    // Connects are checked against the revocation list (filled in `start`, before listening).
    this.auth = new Authenticator(deps.config.auth, (id) => this.sessionEnds.list.isRevoked(id));
    const topics = new LocalTopics(this.app, limits.maxBackpressureBytes);
    this.hub = new Hub(this.gatewayId, deps.router, deps.presence, this.metrics, topics);
    this.watchers = new PresenceWatchers(deps.presence, this.metrics, limits.maxPresenceSubscriptions);
    this.chat = new ChatService({
      storage: deps.storage,
      presence: deps.presence,
      hub: this.hub,
      watchers: this.watchers,
      ids: new SnowflakeGenerator(deps.region.id, deps.workerId),
      metrics: this.metrics,
      limits,
      attachments: deps.config.attachments,
      resume: deps.config.resume,
      region: deps.region.name,
      log: componentLogger(log, 'chat'),
      ...(deps.replication ? { isHome: (u: string) => deps.replication!.isHome(u) } : {}),
    });
    this.sessions = new Sessions({
      chat: this.chat,
      hub: this.hub,
      watchers: this.watchers,
      metrics: this.metrics,
      limits,
      region: deps.region.name,
      gatewayId: this.gatewayId,
      log: componentLogger(log, 'sessions'),
    });
    this.resync = Resync.forGateway(this, componentLogger(log, 'resync'));
    this.sessionEnds = new SessionEnds({
      store: deps.storage.revocations,
      router: deps.router,
      replication: deps.replication,
      sessions: this.sessions,
      metrics: this.metrics,
      refreshMs: deps.config.api.revocationRefreshMs,
      log: componentLogger(log, 'revocations'),
    });
    ({ sweeper: this.retentionSweeper, erasure: this.erasure } = retentionParts({
      storage: deps.storage,
      policy: this.retention,
      region: deps.region.name,
      replication: deps.replication,
      hub: this.hub,
      chat: this.chat,
      sweepIntervalMs: deps.config.retention.sweepIntervalMs,
      log: componentLogger(log, 'retention'),
      webhooks: deps.webhooks?.emitter,
    }));
    const replication = deps.replication;
    this.homeMoves = replication
      ? new HomeMoves({
          region: deps.region.name,
          regions: deps.config.regions.map((r) => r.name),
          directory: replication.directory,
          local: replication.local,
          publish: (ev) => replication.publishHomeMove(ev),
          settings: deps.config.directory.moves,
          log: componentLogger(log, 'home-moves'),
          resumes: deps.workerId === 0,
          caughtUp: async () => caughtUp(await replication.backlog(), 0),
        })
      : null;
    // One region has no moves; its series exist anyway (at zero) for the same dashboards.
    if (this.homeMoves) this.homeMoves.bindMetrics(this.metrics.registry);
    else new HomeMoveMetrics(this.metrics.registry).observe([]);
    registerWsEndpoint(this.app, {
      sessions: this.sessions,
      auth: this.auth,
      metrics: this.metrics,
      limits,
      topics,
      isStopping: () => this.stopping,
      sendsAway: () => this.sendsAway,
    });
    this.socketIo = new SocketIoEndpoint(this.transport, {
      sessions: this.sessions,
      auth: this.auth,
      metrics: this.metrics,
      limits,
      redis: deps.region.redis ?? null,
      adapterKey: `chat:${deps.region.name}:sio`,
      isStopping: () => this.stopping,
      sendsAway: () => this.sendsAway,
      log: componentLogger(log, 'socketio'),
    });
    this.health = new BackendHealth({
      checks: {
        storage: deps.storage,
        presence: deps.presence,
        routing: deps.router,
        // Several regions: the JetStream link to this region's outbox must answer too.
        ...(deps.replication ? { replication: deps.replication } : {}),
      },
      intervalMs: limits.healthCheckIntervalMs,
      unhealthyAfterMs: limits.unhealthyAfterMs,
      metrics: this.metrics,
      log: componentLogger(log, 'health'),
      onChange: (ready, down) => this.onReadinessChange(ready, down),
    });
    registerHttpRoutes(this.app, this);
    mountApi(this.app, this, componentLogger(log, 'api'));
    registerAttachmentRoutes(this.app, {
      auth: this.auth,
      chat: this.chat,
      storage: deps.storage,
      config: deps.config.attachments,
      log: componentLogger(log, 'attachments'),
    });
  }

  get url(): string {
    return `ws://${this.deps.region.gateway.host}:${this.port}/ws`;
  }

  get httpUrl(): string {
    return `http://${this.deps.region.gateway.host}:${this.port}`;
  }

  /**
   * True while this gateway cannot serve and other regions can: its clients are sent there
   * (close 4503) and new connections are closed the same way right after the upgrade. With a
   * single region there is nowhere better to go: clients stay and get `unavailable` until the
   * services return.
   */
  get sendsAway(): boolean {
    return !this.health.ready && this.deps.config.regions.length > 1;
  }

  /** Exposes the app so web pages and the dashboard can attach to it. */
  get httpApp(): HttpApp {
    return this.app;
  }

  /**
   * Runs `hook` when the gateway starts stopping, right after it stops listening: endpoints
   * attached to `httpApp` (the dashboard) close their sockets and timers there.
   */
  onStop(hook: () => void): void {
    this.stopHooks.push(hook);
  }

  async start(): Promise<void> {
    const { storage, presence, router } = this.deps;
    await storage.init();
    await presence.start();
    this.watchers.start();
    await router.start({
      onDelivery: ({ userIds, routed }) => this.hub.deliverRouted(userIds, routed),
      // Membership changes made on another gateway: drop our cached member list so ACLs and
      // fan-out see the change now (it arrives before the change's `conversation` frames).
      // Blocks changed likewise: drop the cached block list; sessions ended: close them here.
      onControl: (event) => {
        if (event.type === 'members_changed') this.chat.invalidateMembers(event.conversationId);
        else if (event.type === 'blocks_changed') this.chat.invalidateBlocks(event.userId);
        else this.sessionEnds.applyHere(event.end);
      },
      // Frames other gateways publish to our users are lost while NATS is away (resync.ts).
      onGap: (gap) => this.resync.onGap(gap),
    });
    this.resync.watchGatewayLost();
    await this.socketIo.start();
    await this.sessionEnds.start();
    const replication = this.deps.replication;
    if (replication) {
      replication.onErasure(async (req) => {
        await this.erasure.run(req);
      });
      const homeMoves = this.homeMoves!;
      replication.onHomeMove((ev) => homeMoves.apply(ev));
      // The directory has every moved user before the first message is queued.
      await homeMoves.start();
      await replication.start(
        replicationSink({
          hub: this.hub,
          chat: this.chat,
          endSessions: (end) => this.sessionEnds.endInRegion(end),
        }),
      );
    }
    this.deps.webhooks?.startDelivery();
    // A first round before listening, so `/readyz` answers from fresh probes from the start.
    await this.health.start();
    const host = this.deps.region.gateway.host;
    const port = this.deps.port ?? this.deps.region.gateway.port;
    this.port = await this.transport.listen(host, port);
    const hb = this.deps.config.presence.heartbeatMs;
    await presence.heartbeat(this.gatewayId);
    this.heartbeat = setInterval(() => {
      presence.heartbeat(this.gatewayId).catch((err) => {
        this.metrics.backgroundFailures.inc({ stage: 'heartbeat' });
        this.log.error({ err }, 'presence heartbeat failed');
      });
    }, hb);
    this.heartbeat.unref();
    // Sessions end when their token does: the client must come back with a fresh one.
    this.expiryTimer = setInterval(() => this.sessions.expire(Date.now()), 5000);
    this.expiryTimer.unref();
    // Uploads whose gateway died mid-way: twice the upload timeout, so none in progress is cut.
    const { sweepIntervalMs, uploadTimeoutMs } = this.deps.config.attachments;
    this.sweepTimer = setInterval(() => {
      storage.attachments.sweepOrphans(Date.now() - 2 * uploadTimeoutMs).catch((err: unknown) => {
        this.metrics.backgroundFailures.inc({ stage: 'attachment-sweep' });
        this.log.warn({ err }, 'sweeping abandoned attachment uploads failed; next round retries');
      });
    }, sweepIntervalMs);
    this.sweepTimer.unref();
    if (this.deps.workerId === 0) this.retentionSweeper.start();
  }

  /**
   * Graceful stop (SIGTERM): stop accepting, let in-flight sends finish and be acked, then close
   * every connection (WebSocket 1001; Socket.IO a `close` event with 1001 and a disconnect),
   * then release the backing services. Bounded: at most `stopBoundMs(limits)` even with Redis,
   * NATS or Cassandra unreachable; a step cut short is logged (`shutdown.ts`).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.health.stop();
    this.sessionEnds.stop();
    this.transport.stopListening();
    for (const hook of this.stopHooks) {
      try {
        hook();
      } catch (err) {
        this.log.error({ err }, 'stop hook failed');
      }
    }
    this.resync.stop();
    const { drainTimeoutMs, closeTimeoutMs } = this.deps.config.limits;
    const inFlight = await this.chat.drain(drainTimeoutMs);
    if (inFlight > 0) {
      this.log.warn(
        { inFlight, timeoutMs: drainTimeoutMs },
        `stop: drain cut short after ${drainTimeoutMs} ms`,
      );
    }
    this.sessions.closeAll(CloseCode.GoingAway, closeReason(CloseCode.GoingAway));
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.retentionSweeper.stop();
    this.erasure.stop();
    this.homeMoves?.stop();
    await delay(CLOSE_FLUSH_MS);
    const { replication, router, presence, storage } = this.deps;
    // Unregistering uses presence and routing; replication applies into storage and the hub:
    // each phase only needs what later phases close. CLOSE_PHASES counts these.
    await closePhase({ sessions: () => this.sessions.forgetAll() }, closeTimeoutMs, this.log);
    this.watchers.stop();
    await closePhase(
      { socketio: () => this.socketIo.close(), replication: async () => replication?.close() },
      closeTimeoutMs,
      this.log,
    );
    await closePhase(
      {
        routing: () => router.close(),
        presence: () => presence.close(),
        storage: () => storage.close(),
        // After replication: applying an inbox event may still queue a webhook event.
        webhooks: async () => this.deps.webhooks?.close(),
      },
      closeTimeoutMs,
      this.log,
    );
    // Closes anything the server still holds (e.g. keep-alive HTTP sockets).
    this.transport.close();
  }

  private onReadinessChange(ready: boolean, down: string[]): void {
    if (ready || !this.sendsAway || this.stopping) return;
    const count = this.sessions.size;
    this.log.warn({ down, connections: count }, 'sending clients to another region (close 4503)');
    this.metrics.regionUnavailableCloses.inc(count);
    this.sessions.closeAll(
      CloseCode.RegionUnavailable,
      closeReason(CloseCode.RegionUnavailable, `${down.join('+')} down`),
    );
  }
}
