/**
 * `ChatConnection`: the connection half of `ChatClient` (client.ts holds the requests an app
 * makes). One logical connection to the chat service over the v1 wire protocol
 * (docs/protocol.md) that survives socket drops. It reconnects by itself with backoff, failing over
 * round-robin across the gateway URLs it was given, resumes from the position the server gave it,
 * drops duplicates, releases replayed messages in id order, and resends unacked messages with
 * their original `clientMsgId` so each is stored once.
 */

import { AttachmentHttp } from './attachments.ts';
import {
  type BackoffOptions,
  backoffDelay,
  DEFAULT_BACKOFF,
  DEFAULT_RESEND_BACKOFF,
  validateBackoff,
} from './backoff.ts';
import { Emitter } from './emitter.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';
import { isMessageId } from './ids.ts';
import { Inbox } from './inbox.ts';
import { LatestSave } from './latest-save.ts';
import { Liveness } from './liveness.ts';
import { MessageStates } from './message-states.ts';
import {
  type ChatClientEvents,
  type ChatClientOptions,
  type ConnectionState,
  DEFAULT_FAILOVER_AFTER_UNAVAILABLE,
  DEFAULT_FAILOVER_AFTER_UNAVAILABLE_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type SyncedInfo,
} from './options.ts';
import { ResumePositions } from './position.ts';
import { Sender } from './sender.ts';
import {
  CloseCode,
  isUnauthorizedHandshake,
  OPEN,
  type WebSocketConstructor,
  type WebSocketLike,
} from './socket.ts';
import { type ClientStorage, MemoryClientStorage } from './storage.ts';
import { ThreadCounts } from './threads.ts';
import { TokenProvider } from './token.ts';
import {
  type ClientFrame,
  DEVICE_LABEL_MAX,
  type ErrorFrame,
  type PongFrame,
  type ReplyOf,
  type ReplyOp,
  type RequestOf,
  type ResultFrame,
  type ResultOf,
  type ResultOp,
  type ServerFrame,
  SUBPROTOCOL,
  type SyncedFrame,
  type WelcomeFrame,
  type WelcomeLimits,
  type WireMessage,
} from './types.ts';

/** Most ids in one `ack` frame (docs/protocol.md). */
const MAX_ACK_IDS = 1000;
/** Most users in one `presence` / `subscribePresence` request. */
const MAX_PRESENCE_USERS = 500;

type Timer = ReturnType<typeof setTimeout>;

/** One socket from creation to close. Events from an ended session are ignored. */
interface Session {
  readonly ws: WebSocketLike;
  readonly url: string;
  welcome: WelcomeFrame | null;
  /** The replay that follows `welcome` has not ended yet. */
  replaying: boolean;
  /** The connect replay ended: the session is healthy, backoff resets. */
  synced: boolean;
  /** The handshake failed with HTTP 401 (only visible where the WebSocket class reports it). */
  unauthorized: boolean;
  ended: boolean;
  timers: Timer[];
  /** Pings and the frozen-gateway check, from `welcome` on. */
  liveness: Liveness | null;
}

/** A reply settled through `request` (`sent` goes to the sender instead). */
type Reply = ResultFrame | PongFrame | SyncedFrame;

interface PendingRequest {
  frame: IdentifiedRequest;
  /** On the wire on the current session (else waiting for a connection). */
  sent: boolean;
  /** A `sync` whose replay is running on the client side. */
  replay: boolean;
  timer: Timer;
  resolve: (reply: Reply) => void;
  reject: (err: ChatClientError) => void;
}

/** Every request frame, with the `id` the client fills in. */
type IdentifiedRequest = RequestOf<ReplyOp> & { id: string };
/** A request as the helpers build it, before it gets its `id`. */
export type RequestFrame<Op extends ReplyOp = ReplyOp> = Op extends ReplyOp
  ? Omit<RequestOf<Op>, 'id'>
  : never;

/** The reply op that answers a request op (any request may instead get an `error`). */
function replyOp(op: ReplyOp): Reply['op'] {
  return op === 'sync' ? 'synced' : op === 'ping' ? 'pong' : 'result';
}

const textEncoder = new TextEncoder();

export abstract class ChatConnection extends Emitter<ChatClientEvents> {
  private readonly urls: readonly string[];
  private readonly WS: WebSocketConstructor;
  private readonly backoff: BackoffOptions;
  private readonly resendBackoff: BackoffOptions;
  private readonly requestTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly storage: ClientStorage;
  private readonly random: () => number;
  private readonly tokens: TokenProvider;
  private readonly inbox: Inbox;
  /** The newest state of edited and deleted messages: drops repeated and stale updates. */
  protected readonly states = new MessageStates();
  /** Thread roots' reply counts: the `thread` event fires once per larger count. */
  protected readonly threads = new ThreadCounts();
  private readonly positions: ResumePositions;
  protected readonly sender: Sender;
  protected readonly files: AttachmentHttp;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly regionByUrl = new Map<string, string>();
  private connectWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  private current: ConnectionState = 'closed';
  private running = false;
  protected closedByUser = false;
  private loaded: Promise<void> | null = null;
  protected session: Session | null = null;
  /** Bumped by every attempt and by close(), so a stale async step can tell it lost. */
  private epoch = 0;
  private urlIndex = 0;
  private failures = 0;
  private reconnectTimer: Timer | null = null;
  private requestSeq = 0;
  protected limits: WelcomeLimits | null = null;
  /** Presence subscriptions and away state: per connection on the server, restored on reconnect. */
  protected readonly watched = new Set<string>();
  protected away = false;
  /** The resume position and `lastSeenId`, saved one write at a time, always the newest. */
  private readonly positionSave: LatestSave;
  private readonly lastSeenSave: LatestSave;

  constructor(private readonly options: ChatClientOptions) {
    super();
    if (!Array.isArray(options.urls) || options.urls.length === 0) {
      throw new TypeError('ChatClient: urls must list at least one gateway URL');
    }
    // The gateway refuses a longer label (invalid_field): fail here, not on every reconnect.
    if (options.device !== undefined && options.device.length > DEVICE_LABEL_MAX) {
      throw new TypeError(`ChatClient: device must be at most ${DEVICE_LABEL_MAX} characters`);
    }
    this.urls = [...options.urls];
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) {
      throw new TypeError('ChatClient: no global WebSocket here; pass the WebSocket option (e.g. from "ws")');
    }
    this.WS = WS;
    this.backoff = validateBackoff({ ...DEFAULT_BACKOFF, ...options.backoff });
    this.resendBackoff = validateBackoff({ ...DEFAULT_RESEND_BACKOFF, ...options.resendBackoff });
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    this.storage = options.storage ?? new MemoryClientStorage();
    this.random = options.random ?? Math.random;
    this.tokens = new TokenProvider(options.token);
    this.sender = new Sender({
      storage: this.storage,
      backoff: this.resendBackoff,
      random: this.random,
      timeoutMs: this.requestTimeoutMs,
      write: (frame) =>
        this.session?.welcome
          ? this.write(this.session, frame)
          : new ChatClientError(LocalErrorCode.Disconnected, 'not connected'),
      nextRequestId: () => `s${++this.requestSeq}`,
      onSent: (info) => {
        // The server does not echo our own message to this socket; a later replay of it is not news.
        this.inbox.markSeen(info.messageId);
        this.emit('sent', info);
        if (info.threadRoot === undefined || !info.rootThread) return;
        const event = this.threads.apply(info.conversationId, info.threadRoot, info.rootThread);
        if (event) this.emit('thread', event);
      },
      onError: (err) => this.emit('error', err),
      // With one URL there is nowhere else to go: keep resending.
      failover: {
        afterUnavailable:
          this.urls.length > 1 ? (options.failoverAfterUnavailable ?? DEFAULT_FAILOVER_AFTER_UNAVAILABLE) : 0,
        afterMs: options.failoverAfterUnavailableMs ?? DEFAULT_FAILOVER_AFTER_UNAVAILABLE_MS,
      },
      onRegionUnavailable: () => {
        const session = this.session;
        if (session) this.drop(session, CloseCode.RegionUnavailable, 'sends keep failing: unavailable');
      },
    });
    this.files = new AttachmentHttp({
      currentUrl: () => this.urls[this.urlIndex % this.urls.length]!,
      token: () => this.tokens.get(this.requestTimeoutMs),
      renewToken: () => {
        if (!this.tokens.refreshable) return false;
        this.tokens.invalidate();
        return true;
      },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const storageError = (what: string) => (cause: unknown) =>
      this.emit(
        'error',
        new ChatClientError(LocalErrorCode.Storage, `could not save ${what}`, undefined, { cause }),
      );
    this.positionSave = new LatestSave(
      () => this.positions.forConnect,
      (position) => this.storage.savePosition(position),
      storageError('the resume position'),
    );
    this.lastSeenSave = new LatestSave(
      () => this.inbox.lastSeenId,
      (id) => this.storage.saveLastSeenId(id),
      storageError('lastSeenId'),
    );
    this.positions = new ResumePositions(() => this.positionSave.request());
    this.inbox = new Inbox({
      ...(options.dedupCapacity !== undefined ? { dedupCapacity: options.dedupCapacity } : {}),
      deliver: (message, replay) => {
        this.lastSeenSave.request();
        this.states.apply(message);
        this.emit('message', this.states.current(message), { replay });
        const thread = this.threads.fromReply(message);
        if (thread) this.emit('thread', thread);
      },
      deliverUpdate: (update, replay) => {
        this.lastSeenSave.request();
        if (this.states.apply(update.message)) {
          const meta = { changeId: update.changeId, kind: update.kind, by: update.by, replay };
          this.emit('update', this.states.current(update.message), meta);
        }
      },
    });
  }

  get state(): ConnectionState {
    return this.current;
  }

  /**
   * The newest message id delivered: the legacy resume form (`since`), still sent for servers
   * that hand out no position.
   */
  get lastSeenId(): string | null {
    return this.inbox.lastSeenId;
  }

  /** The resume position (opaque) the next connect sends as `resume`; null before the first. */
  get position(): string | null {
    return this.positions.forConnect;
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
      this.loaded ??= this.restore();
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
    const reply = await this.request({ op: 'sync', position: null, since: null });
    return {
      initial: false,
      count: reply.count,
      lastId: reply.lastId,
      truncated: reply.truncated,
      position: positionOf(reply),
    };
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
    timeoutMs = this.requestTimeoutMs,
  ): Promise<ReplyOf<F['op']>> {
    if (this.closedByUser) {
      return Promise.reject(new ChatClientError(LocalErrorCode.Closed, 'client closed'));
    }
    const id = `r${++this.requestSeq}`;
    const frame = { ...fields, id } as IdentifiedRequest;
    return new Promise<ReplyOf<F['op']>>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settle(
            id,
            new ChatClientError(LocalErrorCode.Timeout, `${frame.op}: no reply in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      // `settle` resolves only with a reply of `replyOp(frame.op)`, which is `ReplyOf<F['op']>`.
      const answer = resolve as (reply: Reply) => void;
      const req: PendingRequest = { frame, sent: false, replay: false, timer, resolve: answer, reject };
      this.pending.set(id, req);
      if (this.session?.welcome) this.transmit(this.session, req);
    });
  }

  private transmit(session: Session, req: PendingRequest): void {
    if (req.frame.op === 'sync') {
      // The position wins on servers that know it; `since` is for those that do not.
      req.frame.position = this.positions.forSync;
      req.frame.since = this.inbox.lastSeenId;
      this.inbox.beginReplay();
      req.replay = true;
    }
    req.sent = true;
    const problem = this.write(session, req.frame);
    if (problem) this.settle(req.frame.id, problem);
  }

  /** Resolves (reply) or rejects (error, or a reply of the wrong kind) a pending request and forgets it. */
  private settle(id: string, reply: Reply | ChatClientError): void {
    const req = this.pending.get(id);
    if (!req) return;
    const outcome =
      reply instanceof ChatClientError || reply.op === replyOp(req.frame.op)
        ? reply
        : protocolError(req.frame.op, reply.op);
    this.pending.delete(id);
    clearTimeout(req.timer);
    if (outcome instanceof ChatClientError) {
      if (req.replay) {
        this.endReplay({ initial: false, count: 0, lastId: null, truncated: false, position: '' }, false);
      }
      req.reject(outcome);
    } else {
      req.resolve(outcome);
    }
  }

  // ---- connection ----------------------------------------------------------------------

  private async restore(): Promise<void> {
    try {
      const [position, lastSeen, entries] = await Promise.all([
        this.storage.loadPosition(),
        this.storage.loadLastSeenId(),
        this.storage.loadOutbox(),
      ]);
      this.positions.restore(position);
      this.inbox.restoreLastSeenId(isMessageId(lastSeen) ? lastSeen : null);
      this.sender.restore(entries);
    } catch (cause) {
      this.emit(
        'error',
        new ChatClientError(LocalErrorCode.Storage, 'could not load client storage', undefined, { cause }),
      );
    }
  }

  private async openSocket(): Promise<void> {
    const epoch = ++this.epoch;
    const url = this.urls[this.urlIndex % this.urls.length]!;
    if (this.current === 'closed') this.setState('connecting', url);
    let token: string;
    try {
      token = await this.tokens.get(this.requestTimeoutMs);
    } catch (cause) {
      if (epoch !== this.epoch || !this.running) return;
      this.emit(
        'error',
        new ChatClientError(LocalErrorCode.TokenFailed, 'the token function failed', undefined, { cause }),
      );
      this.scheduleReconnect(CloseCode.NoCloseFrame);
      return;
    }
    if (epoch !== this.epoch || !this.running) return;
    let ws: WebSocketLike;
    try {
      const target = new URL(url);
      target.searchParams.set('token', token);
      if (this.options.device) target.searchParams.set('device', this.options.device);
      const resume = this.positions.forConnect;
      if (resume !== null) target.searchParams.set('resume', resume);
      const since = this.inbox.lastSeenId;
      if (since !== null) target.searchParams.set('since', since);
      ws = new this.WS(target.toString(), SUBPROTOCOL);
    } catch (cause) {
      this.emit(
        'error',
        new ChatClientError(LocalErrorCode.ConnectFailed, `cannot open ${url}`, undefined, { cause }),
      );
      this.scheduleReconnect(CloseCode.NoCloseFrame);
      return;
    }
    const session: Session = {
      ws,
      url,
      welcome: null,
      replaying: false,
      synced: false,
      unauthorized: false,
      ended: false,
      timers: [],
      liveness: null,
    };
    this.session = session;
    // A gateway that accepts TCP but never answers would otherwise hold us forever.
    session.timers.push(
      setTimeout(() => this.drop(session, CloseCode.ClientTimeout, 'no welcome'), this.requestTimeoutMs),
    );
    ws.addEventListener('message', (event) => {
      if (session.ended) return;
      session.liveness?.heard();
      this.onData(session, event.data);
    });
    ws.addEventListener('error', (event) => {
      if (isUnauthorizedHandshake(event)) session.unauthorized = true;
    });
    ws.addEventListener('close', (event) => this.drop(session, event.code, event.reason));
  }

  /** A session ended (closed by the server, the network, or us): clean up and plan the next attempt. */
  private drop(session: Session, code: number, reason: string): void {
    if (session.ended) return;
    session.ended = true;
    for (const t of session.timers) clearTimeout(t);
    session.liveness?.stop();
    if (session.ws.readyState <= OPEN) {
      try {
        session.ws.close(CloseCode.Normal, reason.slice(0, 100));
      } catch {
        // Already failing; the close event is what we are handling.
      }
    }
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
    this.inbox.abortReplays();
    this.positions.dropped();
    for (const [id, req] of this.pending) {
      if (!req.sent) continue;
      req.replay = false;
      this.settle(id, err);
    }
    this.sender.pause();
  }

  private scheduleReconnect(closeCode: number): void {
    if (this.session === null && this.reconnectTimer === null && this.running) {
      // Flooding (4429) means "back off": start from a longer delay.
      if (closeCode === CloseCode.RateLimited) this.failures = Math.max(this.failures, 4);
      // Leaving a healthy session because its gateway froze or its region cannot serve: the
      // next URL at once. A region that sent us away is up and answering, only its services are
      // not: try the others every few seconds at most (a refused attempt costs them an upgrade),
      // so the client is back within seconds of any region healing.
      const moving = closeCode === CloseCode.RegionUnavailable || closeCode === CloseCode.ClientTimeout;
      const delayMs =
        moving && this.failures === 0
          ? 0
          : backoffDelay(
              this.failures,
              closeCode === CloseCode.RegionUnavailable ? this.resendBackoff : this.backoff,
              this.random,
            );
      this.failures++;
      this.urlIndex = (this.urlIndex + 1) % this.urls.length;
      const url = this.urls[this.urlIndex]!;
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
    for (const id of [...this.pending.keys()]) this.settle(id, err);
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
      region: url === null ? null : (this.regionByUrl.get(url) ?? null),
      gatewayId: extra.gatewayId ?? null,
      failures: this.failures,
      ...(extra.delayMs !== undefined ? { delayMs: extra.delayMs } : {}),
      ...(extra.closeCode !== undefined ? { closeCode: extra.closeCode } : {}),
    });
  }

  /** Writes a frame; returns an error instead if it cannot go out. */
  private write(session: Session, frame: ClientFrame): ChatClientError | null {
    const text = JSON.stringify(frame);
    const max = this.limits?.maxFrameBytes;
    // Over the limit the server closes the socket (4413), and a resend would do it again.
    if (max !== undefined && text.length * 3 > max && textEncoder.encode(text).length > max) {
      return new ChatClientError('frame_too_large', `${frame.op}: frame exceeds ${max} bytes`);
    }
    if (session.ended || session.ws.readyState !== OPEN) {
      return new ChatClientError(LocalErrorCode.Disconnected, `${frame.op}: not connected`);
    }
    try {
      session.ws.send(text);
    } catch (cause) {
      return new ChatClientError(LocalErrorCode.Disconnected, `${frame.op}: send failed`, undefined, {
        cause,
      });
    }
    // A frame with an id gets a reply; `ack` (and `typing` without an id) do not.
    if ('id' in frame && typeof frame.id === 'string') session.liveness?.wrote();
    return null;
  }

  // ---- incoming frames -----------------------------------------------------------------

  private onData(session: Session, data: unknown): void {
    let frame: unknown;
    try {
      if (typeof data !== 'string') throw new TypeError('binary frame');
      frame = JSON.parse(data);
    } catch (cause) {
      this.emit(
        'error',
        new ChatClientError(LocalErrorCode.Protocol, 'unreadable frame', undefined, { cause }),
      );
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof (frame as { op?: unknown }).op !== 'string') {
      this.emit('error', new ChatClientError(LocalErrorCode.Protocol, 'frame without op'));
      return;
    }
    // Trusted from here on, as the server's frames (src/protocol); a frame of an op this client
    // does not know falls through to the default case.
    const f = frame as ServerFrame;
    switch (f.op) {
      case 'welcome':
        this.onWelcome(session, f);
        return;
      case 'message': {
        const message = f.message;
        if (!isWireMessage(message)) {
          this.emit('error', new ChatClientError(LocalErrorCode.Protocol, 'malformed message frame'));
          return;
        }
        const replay = f.replay === true;
        this.inbox.receive(message, replay);
        if (!replay) this.positions.live(f.pos, this.inbox.replaying);
        return;
      }
      case 'update': {
        if (!isWireMessage(f.message) || !isMessageId(f.changeId)) {
          this.emit('error', new ChatClientError(LocalErrorCode.Protocol, 'malformed update frame'));
          return;
        }
        const replay = f.replay === true;
        this.inbox.receiveUpdate(f, replay);
        if (!replay) this.positions.live(f.pos, this.inbox.replaying);
        return;
      }
      case 'synced':
        this.onSynced(session, f);
        return;
      case 'sent':
        this.sender.handleSent(f);
        return;
      case 'result':
      case 'pong':
        if (typeof f.id === 'string') this.settle(f.id, f);
        return;
      case 'error':
        this.onError(session, f);
        return;
      case 'conversation':
        this.emit('conversation', { conversation: f.conversation, event: f.event });
        return;
      case 'receipt':
        this.emit('receipt', {
          conversationId: String(f.conversationId),
          userId: String(f.userId),
          messageId: String(f.messageId),
        });
        return;
      case 'presence':
        this.emit('presence', f);
        return;
      case 'typing':
        this.emit('typing', f);
        return;
      default:
        // A newer server's frame this client does not know: ignore it (forward compatibility).
        return;
    }
  }

  private onWelcome(session: Session, welcome: WelcomeFrame): void {
    if (session.welcome) return;
    for (const t of session.timers) clearTimeout(t);
    session.timers = [];
    session.welcome = welcome;
    session.replaying = true;
    if (this.pingIntervalMs > 0) {
      // Ping replies are not awaited: whether the gateway answers is the liveness check's call.
      session.liveness = new Liveness({
        intervalMs: this.pingIntervalMs,
        timeoutMs: this.pingTimeoutMs,
        ping: () => this.request({ op: 'ping' }, this.pingTimeoutMs).catch(() => {}),
        dead: () => this.drop(session, CloseCode.ClientTimeout, 'ping timeout'),
      });
      session.liveness.start();
    }
    this.limits = welcome.limits ?? null;
    if (typeof welcome.region === 'string') this.regionByUrl.set(session.url, welcome.region);
    this.inbox.beginReplay();
    this.setState('connected', session.url, { gatewayId: welcome.gatewayId });
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.resolve();
    this.restoreConnectionState();
    for (const req of this.pending.values()) if (!req.sent) this.transmit(session, req);
    this.sender.resume();
  }

  /** Re-applies what the server forgot with the last connection: away, presence subscriptions. */
  private restoreConnectionState(): void {
    const report = (err: unknown) => {
      // A drop is handled by the next welcome, which restores again.
      if (err instanceof ChatClientError && err.code !== LocalErrorCode.Disconnected) this.emit('error', err);
    };
    if (this.away) this.result({ op: 'setAway', away: true }).catch(report);
    const users = [...this.watched];
    for (let i = 0; i < users.length; i += MAX_PRESENCE_USERS) {
      const userIds = users.slice(i, i + MAX_PRESENCE_USERS);
      this.result({ op: 'subscribePresence', userIds }).then(({ users: infos }) => {
        for (const u of infos) {
          if (typeof u !== 'object' || u === null || !this.watched.has(u.userId)) continue;
          const { userId, status, lastSeen, devices } = u;
          this.emit('presence', { op: 'presence', userId, status, lastSeen, devices });
        }
      }, report);
    }
  }

  private onSynced(session: Session, frame: SyncedFrame): void {
    const info: SyncedInfo = {
      initial: frame.id === null,
      count: frame.count,
      lastId: frame.lastId,
      truncated: frame.truncated,
      position: positionOf(frame),
    };
    if (frame.id === null) {
      if (!session.replaying) return;
      session.replaying = false;
      session.synced = true;
      this.failures = 0;
      this.endReplay(info, true, frame);
      this.refreshConversations();
      return;
    }
    const req = this.pending.get(frame.id);
    if (!req) return;
    req.replay = false;
    this.endReplay(info, true, frame);
    this.settle(frame.id, frame);
  }

  /**
   * A replay ended: the inbox releases what it held in id order, the replayed ids are acked, the
   * replay's position is taken (`synced`: none when it failed), and a truncated replay is
   * continued from where it stopped (with the continuation position it just took).
   */
  private endReplay(info: SyncedInfo, announce: boolean, synced?: SyncedFrame): void {
    const acks = this.inbox.endReplay();
    if (synced) this.positions.synced(synced.position, synced.truncated, this.inbox.replaying);
    else if (!this.inbox.replaying) this.positions.replaysEnded();
    const session = this.session;
    if (session?.welcome) {
      for (let i = 0; i < acks.length; i += MAX_ACK_IDS) {
        this.write(session, { op: 'ack', messageIds: acks.slice(i, i + MAX_ACK_IDS) });
      }
    }
    if (!announce) return;
    this.emit('synced', info);
    if (info.truncated && info.lastId !== null) {
      this.sync().catch((err: unknown) => {
        if (err instanceof ChatClientError) this.emit('error', err);
      });
    }
  }

  private onError(session: Session, frame: ErrorFrame): void {
    const err = new ChatClientError(
      typeof frame.code === 'string' ? frame.code : 'internal',
      typeof frame.message === 'string' ? frame.message : 'server error',
      frame.details,
    );
    if (typeof frame.id === 'string') {
      if (this.sender.handleError(frame.id, err)) return;
      if (this.pending.has(frame.id)) {
        this.settle(frame.id, err);
        return;
      }
    }
    if (frame.id === null && session.replaying && frame.code === 'unavailable') {
      // The connect replay failed part-way: reconnect to get all of it again (since is unchanged).
      this.emit('error', err);
      this.drop(session, CloseCode.ClientTimeout, 'replay failed');
      return;
    }
    this.emit('error', err);
  }

  /**
   * After a (re)connect's replay: the conversation list, where conversation events and receipts
   * missed while away show (they are state, not replayed history).
   */
  private refreshConversations(): void {
    if (this.options.refreshConversations === false) return;
    this.result({ op: 'listConversations' }).then(
      ({ conversations }) => this.emit('conversations', conversations),
      (err: unknown) => {
        // A drop is followed by another connect, which refreshes again.
        if (err instanceof ChatClientError && err.code !== LocalErrorCode.Disconnected)
          this.emit('error', err);
      },
    );
  }
}

/** A `synced` frame's position; '' from a server that hands out none. */
function positionOf(frame: SyncedFrame): string {
  return typeof frame.position === 'string' ? frame.position : '';
}

function isWireMessage(value: unknown): value is WireMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return (
    isMessageId(m.id) &&
    typeof m.conversationId === 'string' &&
    typeof m.senderId === 'string' &&
    typeof m.body === 'string' &&
    typeof m.createdAt === 'number' &&
    (m.clientMsgId === null || typeof m.clientMsgId === 'string' || m.clientMsgId === undefined)
  );
}

function protocolError(op: string, got: string): ChatClientError {
  return new ChatClientError(LocalErrorCode.Protocol, `${op}: unexpected reply "${got}"`);
}
