/**
 * The `ws` + `node:http` transport, for runtimes with no native uWebSockets.js build: the same
 * `HttpApp` calls the gateway makes on uWS, on a `node:http` server with `ws` WebSocket servers
 * (one per endpoint, `noServer`) and Socket.IO attached to the server the usual way. This file
 * is the server: it routes requests and upgrades to the app (`app.ts`).
 *
 * - Topics (`topics.ts`): one socket set per topic; a publish writes to each subscriber in turn
 *   (uWS does it in C++). Order with a socket's own sends holds: both write to the socket at once.
 * - Backpressure (`socket.ts`): `getBufferedAmount` is `ws`'s `bufferedAmount`; `drain` is the TCP
 *   socket's `drain`; a behavior's `maxBackpressure` drops past the limit as uWS does (send
 *   returns 2).
 * - Idle sockets (`endpoint.ts`): pinged every half idle timeout, closed when a whole round passed
 *   unanswered.
 * - HTTP bodies (`http.ts`): `onData` from the request stream (`pause`/`resume` hold it back),
 *   `tryEnd` via `write` and the response's `drain`, so uploads and downloads keep their
 *   backpressure. Upgrade refusals are written raw on the socket (`upgrade.ts`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as IoServer } from 'socket.io';
import { ErrorCode } from '../../../protocol/index.ts';
import type { HttpApp, Transport } from '../types.ts';
import { NodeApp } from './app.ts';
import { NodeRequest, NodeResponse } from './http.ts';
import { splitUrl } from './route.ts';

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
