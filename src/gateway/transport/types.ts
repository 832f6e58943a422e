/**
 * The transport seam: what the gateway needs from an HTTP + WebSocket server. It is the part of
 * uWebSockets.js's API the gateway uses, so the uWS transport is uWS itself with no wrapper on
 * the hot path (cork, topics, backpressure stay exactly uWS's), and the `ws` + `node:http`
 * transport (`node/`) emulates the same calls where no uWS binary loads for this runtime.
 *
 * Contract (uWS's, which both keep): a request's headers and query are read inside the route
 * handler; a response is not touched after `onAborted` fired or after it ended; `onData` hands
 * chunks that may be reused after the callback returns (copy what you keep).
 */
import type { Server as IoServer } from 'socket.io';

/** Which implementation serves: uWebSockets.js's native build, or `ws` + `node:http`. */
export type TransportName = 'uws' | 'node';

export interface HttpRequest {
  /** A header by its lower-case name; '' when absent. */
  getHeader(lowerCaseKey: string): string;
  /** The raw query string (without `?`); with a key, that parameter URL-decoded. */
  getQuery(): string | undefined;
  getQuery(key: string): string | undefined;
  /** The route's `:name` parameters by position. */
  getParameter(index: number): string | undefined;
  /** The path, without the query. */
  getUrl(): string;
  /** Lower-case method (`get`, `post`, …). */
  getMethod(): string;
  forEach(cb: (key: string, value: string) => void): void;
}

/** Opaque: handed to an upgrade handler, passed back to `HttpResponse.upgrade`. */
export type UpgradeContext = unknown;

export interface HttpResponse {
  /** A status line such as `404 Not Found`. */
  writeStatus(status: string): HttpResponse;
  writeHeader(key: string, value: string): HttpResponse;
  /** Ends with `body` (Content-Length written); `closeConnection` closes the socket after. */
  end(body?: string | Uint8Array | ArrayBuffer, closeConnection?: boolean): HttpResponse;
  /** Ends without a body and without a Content-Length (304). */
  endWithoutBody(): HttpResponse;
  /** Writes a chunk of a `totalSize`-byte body: [written without backpressure, response done]. */
  tryEnd(chunk: Uint8Array | ArrayBuffer, totalSize: number): [boolean, boolean];
  /** Body bytes written so far. */
  getWriteOffset(): number;
  /** Called once the socket can take more after `tryEnd` said no; return false to wait again. */
  onWritable(handler: (offset: number) => boolean): HttpResponse;
  onAborted(handler: () => void): HttpResponse;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse;
  pause(): void;
  resume(): void;
  /** Cuts the connection at once. */
  close(): HttpResponse;
  /** Batches the writes `cb` makes into one syscall where the transport can. */
  cork(cb: () => void): HttpResponse;
  /** Accepts a WebSocket upgrade (inside a `WsBehavior.upgrade` handler only). */
  upgrade<UserData>(
    userData: UserData,
    secWebSocketKey: string,
    secWebSocketProtocol: string,
    secWebSocketExtensions: string,
    context: UpgradeContext,
  ): void;
}

export interface WebSocket<UserData> {
  /** 1 sent, 0 sent but buffered (backpressure), 2 dropped (over the behavior's maxBackpressure). */
  send(message: string | Uint8Array | ArrayBuffer, isBinary?: boolean): number;
  /** Closes with a close frame. */
  end(code?: number, shortMessage?: string): void;
  cork(cb: () => void): WebSocket<UserData>;
  getBufferedAmount(): number;
  getUserData(): UserData;
  subscribe(topic: string): boolean;
  unsubscribe(topic: string): boolean;
  /** To every subscriber of `topic` but this socket. */
  publish(topic: string, message: string | Uint8Array | ArrayBuffer, isBinary?: boolean): boolean;
}

export interface WsBehavior<UserData> {
  /** 0: no per-message compression (the only setting the gateway uses). */
  compression?: number;
  /** Frames larger than this close the socket. */
  maxPayloadLength?: number;
  /** Seconds without traffic before the socket is closed (pings keep a live peer in). */
  idleTimeout?: number;
  /** Bytes buffered past which `send` and publishes drop (0: no limit). */
  maxBackpressure?: number;
  sendPingsAutomatically?: boolean;
  upgrade?: (res: HttpResponse, req: HttpRequest, context: UpgradeContext) => void;
  open?: (ws: WebSocket<UserData>) => void;
  message?: (ws: WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => void;
  drain?: (ws: WebSocket<UserData>) => void;
  close?: (ws: WebSocket<UserData>, code: number, message: ArrayBuffer) => void;
}

type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** Routes (exact, `:param` and trailing `*` patterns), WebSocket endpoints and topics. */
export interface HttpApp {
  get(pattern: string, handler: Handler): HttpApp;
  post(pattern: string, handler: Handler): HttpApp;
  any(pattern: string, handler: Handler): HttpApp;
  ws<UserData>(pattern: string, behavior: WsBehavior<UserData>): HttpApp;
  /** To every subscriber of `topic`. */
  publish(topic: string, message: string | Uint8Array | ArrayBuffer, isBinary?: boolean): boolean;
  numSubscribers(topic: string): number;
}

/** Socket.IO settings the transport applies where it attaches the server. */
export interface SocketIoAttachOptions {
  idleTimeoutSec: number;
  /** Bytes buffered per socket past which the transport itself would drop (uWS). */
  maxBackpressureBytes: number;
}

/** One server: the app, Socket.IO attached to it, listening and closing. */
export interface Transport {
  readonly name: TransportName;
  readonly app: HttpApp;
  /** Attaches Socket.IO at its path (`/socket.io/`), the way this transport supports. */
  attachSocketIo(io: IoServer, options: SocketIoAttachOptions): void;
  /** Listens; resolves with the bound port (0 asks for any free one). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting connections; open ones stay. */
  stopListening(): void;
  /** Closes every connection still open (after the sessions were closed). */
  close(): void;
}

/** `WsBehavior.compression`: none (uWS's `DISABLED`). */
export const COMPRESSION_DISABLED = 0;
