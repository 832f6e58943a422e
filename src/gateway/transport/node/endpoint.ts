/**
 * One `app.ws(pattern, behavior)` endpoint: a `ws` server without its own HTTP server
 * (`noServer`). Upgrades go through the behavior's `upgrade` handler as on uWS; accepted sockets
 * are wrapped as `NodeSocket`s wired to the behavior's handlers. Idle sockets are pinged every
 * half idle timeout and cut when a whole round passed with nothing from them.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import type { WsBehavior } from '../types.ts';
import { arrayBufferOf } from './bytes.ts';
import { NodeRequest } from './http.ts';
import { NodeSocket } from './socket.ts';
import type { Topics } from './topics.ts';
import { UpgradeResponse, type WsAcceptor } from './upgrade.ts';

/** One `app.ws(pattern, behavior)`: a `ws` server without its own HTTP server. */
export class WsEndpoint<UserData> implements WsAcceptor<UserData> {
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
