/**
 * The `ws` + `node:http` transport, for runtimes with no native uWebSockets.js build: the same
 * `HttpApp` calls the gateway makes on uWS, on a `node:http` server with `ws` WebSocket servers
 * (one per endpoint, `noServer`) and Socket.IO attached to the server the usual way.
 *
 * - Topics: one socket set per topic; a publish writes to each subscriber in turn (uWS does it
 *   in C++). Order with a socket's own sends holds: both write to the socket at once.
 * - Backpressure: `getBufferedAmount` is `ws`'s `bufferedAmount`; `drain` is the TCP socket's
 *   `drain`; a behavior's `maxBackpressure` drops past the limit as uWS does (send returns 2).
 * - Idle sockets: pinged every half idle timeout, closed when a whole round passed unanswered.
 * - HTTP bodies: `onData` from the request stream (`pause`/`resume` hold it back), `tryEnd` via
 *   `write` and the response's `drain`, so uploads and downloads keep their backpressure.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as IoServer } from 'socket.io';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { ErrorCode } from '../../protocol/index.ts';
import type {
  HttpApp,
  HttpRequest,
  HttpResponse,
  Transport,
  UpgradeContext,
  WebSocket,
  WsBehavior,
} from './types.ts';

type Handler = (res: HttpResponse, req: HttpRequest) => void;
type Body = string | Uint8Array | ArrayBuffer;

const toBuffer = (body: Body): Buffer | string =>
  typeof body === 'string' ? body : body instanceof ArrayBuffer ? Buffer.from(body) : Buffer.from(body);

const byteLength = (body: Body): number =>
  typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;

/** A fresh ArrayBuffer holding `buf` (handlers get ArrayBuffers, as from uWS). */
function arrayBufferOf(buf: Buffer): ArrayBuffer {
  const ab = new ArrayBuffer(buf.byteLength);
  new Uint8Array(ab).set(buf);
  return ab;
}

function parseStatus(line: string): [number, string | undefined] {
  const m = /^(\d{3})\s*(.*)$/.exec(line);
  if (!m) throw new Error(`bad status line: ${line}`);
  return [Number(m[1]), m[2] || undefined];
}

/** A route pattern of uWS's kinds: exact, with `:name` segments, or ending in `*`. */
class Route {
  readonly segments: string[];
  readonly wildcard: boolean;
  /** Lower wins: exact before parameters before wildcards; longer wildcards first. */
  readonly rank: number;

  constructor(
    readonly method: string,
    pattern: string,
    readonly handler: Handler,
  ) {
    this.wildcard = pattern.endsWith('*');
    this.segments = (this.wildcard ? pattern.slice(0, -1) : pattern).split('/');
    if (this.wildcard) this.segments.pop();
    const params = this.segments.some((s) => s.startsWith(':'));
    this.rank = this.wildcard ? 2000 - this.segments.length : params ? 1000 : 0;
  }

  /** The parameters when `path` matches, else null. */
  match(method: string, path: string[]): string[] | null {
    if (this.method !== 'any' && this.method !== method) return null;
    if (this.wildcard ? path.length < this.segments.length : path.length !== this.segments.length)
      return null;
    const params: string[] = [];
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      if (seg.startsWith(':')) params.push(decodeURIComponent(path[i] ?? ''));
      else if (seg !== path[i]) return null;
    }
    return params;
  }
}

class NodeRequest implements HttpRequest {
  private params: URLSearchParams | null = null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly path: string,
    private readonly rawQuery: string | undefined,
    private readonly routeParams: string[],
  ) {}

  getHeader(key: string): string {
    const v = this.req.headers[key];
    return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
  }

  getQuery(): string | undefined;
  getQuery(key: string): string | undefined;
  getQuery(key?: string): string | undefined {
    if (key === undefined) return this.rawQuery;
    if (this.rawQuery === undefined) return undefined;
    this.params ??= new URLSearchParams(this.rawQuery);
    return this.params.get(key) ?? undefined;
  }

  getParameter(index: number): string | undefined {
    return this.routeParams[index];
  }

  getUrl(): string {
    return this.path;
  }

  getMethod(): string {
    return (this.req.method ?? 'GET').toLowerCase();
  }

  forEach(cb: (key: string, value: string) => void): void {
    for (const [k, v] of Object.entries(this.req.headers)) {
      if (v !== undefined) cb(k, Array.isArray(v) ? v.join(', ') : v);
    }
  }
}

/** uWS's response calls on a `ServerResponse`. */
class NodeResponse implements HttpResponse {
  private ended = false;
  private offset = 0;
  private abortHandler: (() => void) | null = null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    // Closed before it ended: the client went away (uWS's abort).
    res.on('close', () => {
      if (this.ended) return;
      this.ended = true;
      this.abortHandler?.();
    });
  }

  writeStatus(status: string): HttpResponse {
    const [code, message] = parseStatus(status);
    this.res.statusCode = code;
    if (message) this.res.statusMessage = message;
    return this;
  }

  writeHeader(key: string, value: string): HttpResponse {
    if (!this.res.headersSent) this.res.appendHeader(key, value);
    return this;
  }

  end(body: Body = '', closeConnection = false): HttpResponse {
    if (this.ended) return this;
    this.ended = true;
    if (closeConnection && !this.res.headersSent) this.res.setHeader('connection', 'close');
    this.res.end(toBuffer(body));
    return this;
  }

  endWithoutBody(): HttpResponse {
    if (this.ended) return this;
    this.ended = true;
    this.res.end();
    return this;
  }

  tryEnd(chunk: Uint8Array | ArrayBuffer, totalSize: number): [boolean, boolean] {
    if (this.ended) return [true, true];
    if (!this.res.headersSent) this.res.setHeader('content-length', totalSize);
    let ok = !this.res.writableNeedDrain;
    if (chunk.byteLength > 0) {
      ok = this.res.write(toBuffer(chunk));
      this.offset += chunk.byteLength;
    }
    if (this.offset >= totalSize) {
      this.ended = true;
      this.res.end();
      return [true, true];
    }
    return [ok, false];
  }

  getWriteOffset(): number {
    return this.offset;
  }

  onWritable(handler: (offset: number) => boolean): HttpResponse {
    // `write` took the whole chunk; `drain` says the socket took it.
    const wait = () =>
      this.res.once('drain', () => {
        if (!this.ended && !handler(this.offset)) wait();
      });
    wait();
    return this;
  }

  onAborted(handler: () => void): HttpResponse {
    this.abortHandler = handler;
    return this;
  }

  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse {
    this.req.on('data', (chunk: Buffer) => handler(arrayBufferOf(chunk), false));
    this.req.on('end', () => handler(new ArrayBuffer(0), true));
    return this;
  }

  pause(): void {
    this.req.pause();
  }

  resume(): void {
    this.req.resume();
  }

  close(): HttpResponse {
    this.ended = true;
    this.res.destroy();
    return this;
  }

  cork(cb: () => void): HttpResponse {
    this.res.cork();
    try {
      cb();
    } finally {
      this.res.uncork();
    }
    return this;
  }

  upgrade(): void {
    throw new Error('upgrade: not a WebSocket upgrade request');
  }
}

/** The response to a WebSocket upgrade request: a refusal written raw, or the upgrade. */
class UpgradeResponse implements HttpResponse {
  done = false;
  private status = '200 OK';
  private readonly headers: string[] = [];

  constructor(
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
  ) {}

  writeStatus(status: string): HttpResponse {
    this.status = status;
    return this;
  }

  writeHeader(key: string, value: string): HttpResponse {
    this.headers.push(`${key}: ${value}\r\n`);
    return this;
  }

  end(body: Body = ''): HttpResponse {
    if (this.done) return this;
    this.done = true;
    const [code, message] = parseStatus(this.status);
    this.socket.write(
      `HTTP/1.1 ${code} ${message ?? STATUS_CODES[code] ?? ''}\r\n${this.headers.join('')}` +
        `content-length: ${byteLength(body)}\r\nconnection: close\r\n\r\n`,
    );
    this.socket.end(toBuffer(body));
    return this;
  }

  endWithoutBody(): HttpResponse {
    return this.end();
  }

  upgrade<UserData>(
    userData: UserData,
    _key: string,
    protocol: string,
    _ext: string,
    context: UpgradeContext,
  ): void {
    if (this.done) return;
    this.done = true;
    (context as WsEndpoint<UserData>).accept(this.req, this.socket, this.head, userData, protocol);
  }

  tryEnd(): [boolean, boolean] {
    throw new Error('tryEnd: not on an upgrade request');
  }
  getWriteOffset(): number {
    return 0;
  }
  onWritable(): HttpResponse {
    return this;
  }
  onAborted(): HttpResponse {
    return this;
  }
  onData(): HttpResponse {
    return this;
  }
  pause(): void {}
  resume(): void {}
  close(): HttpResponse {
    this.done = true;
    this.socket.destroy();
    return this;
  }
  cork(cb: () => void): HttpResponse {
    cb();
    return this;
  }
}

/** Topic subscriptions of the app's sockets: one set per topic. */
class Topics {
  private readonly sets = new Map<string, Set<NodeSocket<unknown>>>();

  subscribe(topic: string, s: NodeSocket<unknown>): boolean {
    let set = this.sets.get(topic);
    if (!set) {
      set = new Set();
      this.sets.set(topic, set);
    }
    if (set.has(s)) return false;
    set.add(s);
    return true;
  }

  unsubscribe(topic: string, s: NodeSocket<unknown>): boolean {
    const set = this.sets.get(topic);
    if (!set?.delete(s)) return false;
    if (set.size === 0) this.sets.delete(topic);
    return true;
  }

  count(topic: string): number {
    return this.sets.get(topic)?.size ?? 0;
  }

  publish(topic: string, message: Body, isBinary: boolean, except: NodeSocket<unknown> | null): boolean {
    const set = this.sets.get(topic);
    if (!set) return false;
    // Encoded once for every subscriber (ws would encode a string per send).
    const data = typeof message === 'string' ? Buffer.from(message) : message;
    for (const s of set) if (s !== except) s.send(data, isBinary);
    return true;
  }
}

/** uWS's WebSocket calls on a `ws` socket. */
class NodeSocket<UserData> implements WebSocket<UserData> {
  /** Topics this socket is in, so a close leaves them all. */
  readonly topics = new Set<string>();
  /** Something arrived since the last idle round. */
  alive = true;
  closed = false;

  constructor(
    readonly ws: WsSocket,
    private readonly raw: Duplex,
    private readonly userData: UserData,
    private readonly registry: Topics,
    private readonly maxBackpressure: number,
    /** Runs the behavior's close handler, once (`WsEndpoint.accept`). */
    private readonly onClosed: (code: number, reason: Buffer) => void,
  ) {}

  send(message: Body, isBinary = false): number {
    if (this.closed || this.ws.readyState !== 1) return 2;
    if (this.maxBackpressure > 0 && this.ws.bufferedAmount > this.maxBackpressure) return 2;
    this.ws.send(message, { binary: isBinary });
    return this.ws.bufferedAmount > 0 ? 0 : 1;
  }

  end(code?: number, shortMessage?: string): void {
    if (this.closed) return;
    this.ws.close(code, shortMessage);
    // As uWS: the close handler runs now, not when the peer answers the close frame (a client
    // that stopped reading may never answer; `ws` cuts it after its close timeout).
    this.onClosed(code ?? 1005, Buffer.from(shortMessage ?? ''));
  }

  cork(cb: () => void): WebSocket<UserData> {
    // Frames written inside go out in one write, as with uWS.
    this.raw.cork();
    try {
      cb();
    } finally {
      this.raw.uncork();
    }
    return this;
  }

  getBufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  getUserData(): UserData {
    return this.userData;
  }

  subscribe(topic: string): boolean {
    if (this.closed) return false;
    this.topics.add(topic);
    return this.registry.subscribe(topic, this as NodeSocket<unknown>);
  }

  unsubscribe(topic: string): boolean {
    this.topics.delete(topic);
    return this.registry.unsubscribe(topic, this as NodeSocket<unknown>);
  }

  publish(topic: string, message: Body, isBinary = false): boolean {
    return this.registry.publish(topic, message, isBinary, this as NodeSocket<unknown>);
  }

  /** The socket closed: out of every topic. */
  leaveAll(): void {
    for (const topic of this.topics) this.registry.unsubscribe(topic, this as NodeSocket<unknown>);
    this.topics.clear();
  }
}

/** One `app.ws(pattern, behavior)`: a `ws` server without its own HTTP server. */
class WsEndpoint<UserData> {
  private readonly wss: WebSocketServer;
  readonly sockets = new Set<NodeSocket<UserData>>();
  /** Every `ws` socket not yet fully closed, those closing included (`close` cuts them). */
  private readonly live = new Set<WsSocket>();
  /** The subprotocol the upgrade handler chose, per request. */
  private readonly protocols = new WeakMap<IncomingMessage, string>();
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly behavior: WsBehavior<UserData>,
    private readonly topics: Topics,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: behavior.maxPayloadLength ?? 16 * 1024,
      handleProtocols: (_offered, req) => this.protocols.get(req) || false,
    });
    const idleSec = behavior.idleTimeout ?? 0;
    if (idleSec > 0) {
      this.idleTimer = setInterval(() => this.idleRound(), (idleSec * 1000) / 2);
      this.idleTimer.unref();
    }
  }

  /** Serves an upgrade request: the behavior's `upgrade` decides, as on uWS. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, path: string, query: string | undefined): void {
    const res = new UpgradeResponse(req, socket, head);
    const request = new NodeRequest(req, path, query, []);
    if (this.behavior.upgrade) this.behavior.upgrade(res, request, this);
    else
      res.upgrade(
        {} as UserData,
        request.getHeader('sec-websocket-key'),
        '',
        request.getHeader('sec-websocket-extensions'),
        this,
      );
    // uWS handlers answer synchronously; one that did not would leave the socket hanging.
    if (!res.done) socket.destroy();
  }

  accept(req: IncomingMessage, raw: Duplex, head: Buffer, userData: UserData, protocol: string): void {
    if (protocol) this.protocols.set(req, protocol);
    this.wss.handleUpgrade(req, raw, head, (ws) => {
      const b = this.behavior;
      const closed = (code: number, reason: Buffer) => {
        if (s.closed) return;
        s.closed = true;
        s.leaveAll();
        this.sockets.delete(s);
        b.close?.(s, code, arrayBufferOf(reason));
      };
      const s: NodeSocket<UserData> = new NodeSocket(
        ws,
        raw,
        userData,
        this.topics,
        b.maxBackpressure ?? 0,
        closed,
      );
      this.sockets.add(s);
      ws.binaryType = 'arraybuffer';
      ws.on('message', (data, isBinary) => {
        s.alive = true;
        b.message?.(s, data as ArrayBuffer, isBinary);
      });
      ws.on('pong', () => {
        s.alive = true;
      });
      // ws closes the socket after an error and emits 'close'; nothing else to do here.
      ws.on('error', () => {});
      if (b.drain) raw.on('drain', () => !s.closed && b.drain?.(s));
      this.live.add(ws);
      ws.on('close', (code, reason) => {
        this.live.delete(ws);
        closed(code, reason);
      });
      b.open?.(s);
    });
  }

  private idleRound(): void {
    for (const s of this.sockets) {
      if (!s.alive) {
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      if (this.behavior.sendPingsAutomatically !== false) s.ws.ping();
    }
  }

  close(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    for (const ws of this.live) ws.terminate();
  }
}

class NodeApp implements HttpApp {
  readonly routes: Route[] = [];
  readonly endpoints = new Map<string, WsEndpoint<unknown>>();
  readonly topics = new Topics();

  get(pattern: string, handler: Handler): HttpApp {
    return this.add('get', pattern, handler);
  }

  post(pattern: string, handler: Handler): HttpApp {
    return this.add('post', pattern, handler);
  }

  any(pattern: string, handler: Handler): HttpApp {
    return this.add('any', pattern, handler);
  }

  ws<UserData>(pattern: string, behavior: WsBehavior<UserData>): HttpApp {
    this.endpoints.set(pattern, new WsEndpoint(behavior, this.topics) as WsEndpoint<unknown>);
    return this;
  }

  publish(topic: string, message: Body, isBinary = false): boolean {
    return this.topics.publish(topic, message, isBinary, null);
  }

  numSubscribers(topic: string): number {
    return this.topics.count(topic);
  }

  private add(method: string, pattern: string, handler: Handler): HttpApp {
    this.routes.push(new Route(method, pattern, handler));
    this.routes.sort((a, b) => a.rank - b.rank);
    return this;
  }
}

function splitUrl(url: string | undefined): [string, string | undefined] {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? [u, undefined] : [u.slice(0, q), u.slice(q + 1)];
}

export class NodeTransport implements Transport {
  readonly name = 'node' as const;
  private readonly nodeApp = new NodeApp();
  readonly app: HttpApp = this.nodeApp;
  private readonly server: Server;
  /** Socket.IO's path prefix: its upgrades are engine.io's, not ours. */
  private ioPath: string | null = null;

  constructor() {
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    // A client that resets mid-request: the request's own handlers see it; keep the process up.
    this.server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  }

  /**
   * The options are uWS's limits: here engine.io's own pings find dead clients, and `ws` has no
   * per-socket buffer limit that drops (the endpoint's own 4509 check applies).
   */
  attachSocketIo(io: IoServer): void {
    // Engine.io takes over the server's requests and upgrades under its path and hands the rest
    // on; `destroyUpgrade: false` leaves other upgrades (/ws, /dashboard/ws) to us.
    io.attach(this.server, { destroyUpgrade: false });
    this.ioPath = `${io.path()}/`;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  stopListening(): void {
    if (this.server.listening) this.server.close();
  }

  close(): void {
    for (const ep of this.nodeApp.endpoints.values()) ep.close();
    this.server.closeAllConnections();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const [path, query] = splitUrl(req.url);
    let method = (req.method ?? 'GET').toLowerCase();
    // HEAD is answered as GET without the body (node:http leaves the body out).
    if (method === 'head') method = 'get';
    const segments = path.split('/');
    for (const route of this.nodeApp.routes) {
      let params: string[] | null;
      try {
        params = route.match(method, segments);
      } catch {
        params = null; // a malformed %-escape in a parameter: no match
      }
      if (params === null) continue;
      route.handler(new NodeResponse(req, res), new NodeRequest(req, path, query, params));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ error: { code: ErrorCode.NotFound, message: `no route for ${req.method} ${path}` } }),
    );
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const [path, query] = splitUrl(req.url);
    if (this.ioPath && path.startsWith(this.ioPath)) return;
    (socket as Socket).on('error', () => {});
    const ep = this.nodeApp.endpoints.get(path);
    if (!ep) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    ep.handle(req, socket, head, path, query);
  }
}
