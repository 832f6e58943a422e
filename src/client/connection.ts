/**
 * `ChatConnection`: the connection half of `ChatClient` (client.ts holds the requests an app
 * makes). One logical connection to the chat service over the v1 wire protocol
 * (docs/protocol.md) that survives socket drops. It reconnects by itself with backoff, failing over
 * round-robin across the gateway URLs it was given, resumes from the position the server gave it,
 * drops duplicates, releases replayed messages in id order, and resends unacked messages with
 * their original `clientMsgId` so each is stored once.
 *
 * This class is the coordinator: it owns the state machine (connecting, connected, reconnecting,
 * closed) and decides what each socket event means, in order. The parts each have their own file:
 * the checked options (settings.ts), which gateway next and when (gateways.ts), one socket
 * session (session.ts), reading frames and handing them on (dispatch.ts), the request table
 * (requests.ts), resume and replay bookkeeping (resume.ts), the outbox's sends (sender.ts), how
 * they are built and wired (parts.ts), and what a new connection re-applies (restore.ts).
 */

import type { AttachmentHttp } from './attachments.ts';
import { dispatchFrame } from './dispatch.ts';
import { Emitter } from './emitter.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';
import { Gateways } from './gateways.ts';
import { MessageStates } from './message-states.ts';
import type { ChatClientEvents, ChatClientOptions, ConnectionState, SyncedInfo } from './options.ts';
import { buildParts, type ConnectionParts } from './parts.ts';
import { protocolError, type RequestFrame } from './requests.ts';
import { type RestoreDeps, refreshConversations, restoreConnectionState } from './restore.ts';
import { syncedInfo } from './resume.ts';
import type { Sender } from './sender.ts';
import {
  endSession,
  openSession,
  type Session,
  watchSession,
  welcomeSession,
  writeFrame,
} from './session.ts';
import { type ConnectionSettings, connectionSettings } from './settings.ts';
import { CloseCode } from './socket.ts';
import { ThreadCounts } from './threads.ts';
import { TokenProvider } from './token.ts';
import type {
  ClientFrame,
  ErrorFrame,
  ReplyOf,
  ResultOf,
  ResultOp,
  SyncedFrame,
  WelcomeFrame,
  WelcomeLimits,
} from './types.ts';

export type { RequestFrame } from './requests.ts';

type Timer = ReturnType<typeof setTimeout>;

export abstract class ChatConnection extends Emitter<ChatClientEvents> {
  private readonly s: ConnectionSettings;
  private readonly gateways: Gateways;
  private readonly tokens: TokenProvider;
  /** The resume tracker, the request table, the sender and attachments (parts.ts). */
  private readonly parts: ConnectionParts;
  /** The newest state of edited and deleted messages: drops repeated and stale updates. */
  protected readonly states = new MessageStates();
  /** Thread roots' reply counts: the `thread` event fires once per larger count. */
  protected readonly threads = new ThreadCounts();
  protected readonly sender: Sender;
  protected readonly files: AttachmentHttp;
  private connectWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  private current: ConnectionState = 'closed';
  private running = false;
  protected closedByUser = false;
  private loaded: Promise<void> | null = null;
  protected session: Session | null = null;
  /** Bumped by every attempt and by close(), so a stale async step can tell it lost. */
  private epoch = 0;
  private reconnectTimer: Timer | null = null;
  private requestSeq = 0;
  protected limits: WelcomeLimits | null = null;
  /** Presence subscriptions and away state: per connection on the server, restored on reconnect. */
  protected readonly watched = new Set<string>();
  protected away = false;

  constructor(private readonly options: ChatClientOptions) {
    super();
    this.s = connectionSettings(options);
    this.gateways = new Gateways(this.s.urls, this.s.backoff, this.s.resendBackoff, this.s.random);
    this.tokens = new TokenProvider(options.token);
    this.parts = buildParts(this.s, options, {
      events: this,
      states: this.states,
      threads: this.threads,
      gateways: this.gateways,
      tokens: this.tokens,
      writeCurrent: (frame) =>
        this.session?.welcome
          ? this.write(this.session, frame)
          : new ChatClientError(LocalErrorCode.Disconnected, 'not connected'),
      dropCurrent: (code, reason) => {
        const session = this.session;
        if (session) this.drop(session, code, reason);
      },
      nextRequestId: (prefix) => `${prefix}${++this.requestSeq}`,
      sync: () => this.sync(),
    });
    this.sender = this.parts.sender;
    this.files = this.parts.files;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /**
   * The newest message id delivered: the legacy resume form (`since`), still sent for servers
   * that hand out no position.
   */
  get lastSeenId(): string | null {
    return this.parts.resume.lastSeenId;
  }

  /** The resume position (opaque) the next connect sends as `resume`; null before the first. */
  get position(): string | null {
    return this.parts.resume.forConnect;
  }
  /** Messages queued or on the wire, not yet acked by the server. */
  get outboxSize(): number {
    return this.sender.size;
  }

  /** The limits the current gateway announced, once connected. */
  get serverLimits(): WelcomeLimits | null {
    return this.limits;
  }

  /**
   * Starts connecting (and keeps reconnecting until `close()`). Resolves once connected; rejects
   * only if `close()` comes first, or the fixed token is refused.
   */
  connect(): Promise<void> {
    if (this.current === 'connected') return Promise.resolve();
    const ready = new Promise<void>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (!this.running) {
      this.running = true;
      this.closedByUser = false;
      this.loaded ??= this.parts.load();
      const epoch = ++this.epoch;
      void this.loaded.then(() => {
        if (this.running && epoch === this.epoch) void this.openSocket();
      });
    }
    return ready;
  }

  /**
   * Closes the connection and stops reconnecting. Pending requests reject with `closed`; queued
   * messages stay in the outbox (and its storage) and go out after the next `connect()`.
   */
  async close(): Promise<void> {
    this.closedByUser = true;
    this.shutdown(new ChatClientError(LocalErrorCode.Closed, 'client closed'));
  }

  /**
   * Asks for a replay of everything missed since the client's resume position (and the offline
   * queue); resolves after the replayed messages were delivered. Rarely needed: every reconnect
   * does this by itself.
   */
  async sync(): Promise<SyncedInfo> {
    return syncedInfo(await this.request({ op: 'sync', position: null, since: null }));
  }

  /** Sends a request answered by a `result` frame and resolves with its data. */
  protected async result<F extends RequestFrame<ResultOp>>(frame: F): Promise<ResultOf<F['op']>> {
    const reply = await this.request(frame);
    if (typeof reply.data !== 'object' || reply.data === null) throw protocolError(frame.op, 'result');
    return reply.data;
  }

  /**
   * Sends a request and resolves with its reply. Made while disconnected, it waits for the
   * connection; the timeout covers the wait. A request on the wire when the socket drops rejects
   * with `disconnected` and is not retried (it may have taken effect).
   */
  protected request<F extends RequestFrame>(
    fields: F,
    timeoutMs = this.s.requestTimeoutMs,
  ): Promise<ReplyOf<F['op']>> {
    if (this.closedByUser) {
      return Promise.reject(new ChatClientError(LocalErrorCode.Closed, 'client closed'));
    }
    const session = this.session;
    const write = session?.welcome ? (frame: ClientFrame) => this.write(session, frame) : null;
    return this.parts.requests.add(fields, timeoutMs, write);
  }

  // ---- connection ----------------------------------------------------------------------

  private async openSocket(): Promise<void> {
    const epoch = ++this.epoch;
    const url = this.gateways.current;
    if (this.current === 'closed') this.setState('connecting', url);
    let token: string;
    try {
      token = await this.tokens.get(this.s.requestTimeoutMs);
    } catch (cause) {
      if (epoch !== this.epoch || !this.running) return;
      this.attemptFailed(
        new ChatClientError(LocalErrorCode.TokenFailed, 'the token function failed', undefined, { cause }),
      );
      return;
    }
    if (epoch !== this.epoch || !this.running) return;
    let session: Session;
    try {
      const query = {
        token,
        device: this.options.device,
        resume: this.parts.resume.forConnect,
        since: this.parts.resume.lastSeenId,
      };
      session = openSession(this.s.WS, url, query);
    } catch (cause) {
      this.attemptFailed(
        new ChatClientError(LocalErrorCode.ConnectFailed, `cannot open ${url}`, undefined, { cause }),
      );
      return;
    }
    this.session = session;
    watchSession(session, this.s.requestTimeoutMs, {
      data: (data) => this.onData(session, data),
      close: (code, reason) => this.drop(session, code, reason),
      noWelcome: () => this.drop(session, CloseCode.ClientTimeout, 'no welcome'),
    });
  }

  /** An attempt failed before it had a socket: reported, and the next one planned. */
  private attemptFailed(err: ChatClientError): void {
    this.emit('error', err);
    this.scheduleReconnect(CloseCode.NoCloseFrame);
  }

  /** A session ended (closed by the server, the network, or us): clean up and plan the next attempt. */
  private drop(session: Session, code: number, reason: string): void {
    if (!endSession(session, reason)) return;
    if (this.session !== session) return;
    this.session = null;
    this.abandonInFlight(new ChatClientError(LocalErrorCode.Disconnected, `connection lost (${code})`));
    if (!this.running) return;
    if (code === CloseCode.Unauthorized || code === CloseCode.Revoked || session.unauthorized) {
      if (!this.tokens.refreshable) {
        const err = new ChatClientError(LocalErrorCode.Unauthorized, 'the server refused the token');
        this.emit('error', err);
        this.shutdown(err);
        return;
      }
      this.tokens.invalidate();
    }
    if (code === CloseCode.FrameTooLarge) {
      this.emit(
        'error',
        new ChatClientError('frame_too_large', `the server closed the socket: ${code} ${reason}`),
      );
    }
    this.scheduleReconnect(code);
  }

  /** Requests on the wire fail, unacked sends go back to the outbox, a running replay is forgotten. */
  private abandonInFlight(err: ChatClientError): void {
    this.parts.resume.dropped();
    this.parts.requests.abandonSent(err);
    this.sender.pause();
  }

  private scheduleReconnect(closeCode: number): void {
    if (this.session === null && this.reconnectTimer === null && this.running) {
      const { url, delayMs } = this.gateways.next(closeCode);
      this.setState('reconnecting', url, { delayMs, closeCode });
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (this.running) void this.openSocket();
      }, delayMs);
    }
  }

  private shutdown(err: ChatClientError): void {
    this.running = false;
    this.epoch++;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const session = this.session;
    // Detached first, so in-flight requests fail with `err` rather than `disconnected`.
    this.session = null;
    if (session) this.drop(session, CloseCode.Normal, 'client closed');
    this.abandonInFlight(err);
    this.parts.requests.rejectAll(err);
    this.sender.rejectWaiters(err);
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.reject(err);
    if (this.current !== 'closed') this.setState('closed', null);
  }

  private setState(
    state: ConnectionState,
    url: string | null,
    extra: { delayMs?: number; closeCode?: number; gatewayId?: string } = {},
  ): void {
    this.current = state;
    this.emit('state', {
      state,
      url,
      region: url === null ? null : this.gateways.regionOf(url),
      gatewayId: extra.gatewayId ?? null,
      failures: this.gateways.failures,
      ...(extra.delayMs !== undefined ? { delayMs: extra.delayMs } : {}),
      ...(extra.closeCode !== undefined ? { closeCode: extra.closeCode } : {}),
    });
  }

  /** Writes a frame on a session, within the limit the gateway announced. */
  private write(session: Session, frame: ClientFrame): ChatClientError | null {
    return writeFrame(session, frame, this.limits?.maxFrameBytes);
  }

  // ---- incoming frames -----------------------------------------------------------------

  private onData(session: Session, data: unknown): void {
    dispatchFrame(data, {
      ...this.parts,
      events: this,
      welcome: (f) => this.onWelcome(session, f),
      connectSynced: (f) => this.onConnectSynced(session, f),
      error: (f, err) => this.onError(session, f, err),
    });
  }

  private onWelcome(session: Session, welcome: WelcomeFrame): void {
    const liveness = {
      intervalMs: this.s.pingIntervalMs,
      timeoutMs: this.s.pingTimeoutMs,
      // Ping replies are not awaited: whether the gateway answers is the liveness check's call.
      ping: () => void this.request({ op: 'ping' }, this.s.pingTimeoutMs).catch(() => {}),
      dead: () => this.drop(session, CloseCode.ClientTimeout, 'ping timeout'),
    };
    if (!welcomeSession(session, welcome, this.s.pingIntervalMs > 0 ? liveness : null)) return;
    this.limits = welcome.limits ?? null;
    if (typeof welcome.region === 'string') this.gateways.learnRegion(session.url, welcome.region);
    this.parts.resume.beginConnectReplay();
    this.setState('connected', session.url, { gatewayId: welcome.gatewayId });
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.resolve();
    restoreConnectionState(this.away, this.watched, this.after);
    this.parts.requests.transmitWaiting((frame) => this.write(session, frame));
    this.sender.resume();
  }

  /** The replay that follows the welcome ended: the session is healthy. */
  private onConnectSynced(session: Session, frame: SyncedFrame): void {
    if (!session.replaying) return;
    session.replaying = false;
    session.synced = true;
    this.gateways.synced();
    this.parts.resume.endReplay(frame);
    if (this.options.refreshConversations !== false) refreshConversations(this.after);
  }

  /** An error frame that answers no send or request: the connect replay's, or the app's to see. */
  private onError(session: Session, frame: ErrorFrame, err: ChatClientError): void {
    if (frame.id === null && session.replaying && frame.code === 'unavailable') {
      // The connect replay failed part-way: reconnect to get all of it again (since is unchanged).
      this.emit('error', err);
      this.drop(session, CloseCode.ClientTimeout, 'replay failed');
      return;
    }
    this.emit('error', err);
  }

  /** What restore.ts needs to re-apply state and refresh after a connect. */
  private readonly after: RestoreDeps = { result: (frame) => this.result(frame), events: this };
}
