/**
 * The uWebSockets.js transport: the app is uWS's own (`HttpApp` is the part of its API the
 * gateway uses), so routes, topics, cork and backpressure run exactly as uWS runs them.
 */
import type uWS from 'uWebSockets.js';
import type { HttpApp, SocketIoAttachOptions, Transport } from './types.ts';

export type UwsModule = typeof uWS;

export class UwsTransport implements Transport {
  readonly name = 'uws' as const;
  private readonly uwsApp: uWS.TemplatedApp;
  readonly app: HttpApp;
  private listenSocket: uWS.us_listen_socket | null = null;

  constructor(private readonly uws: UwsModule) {
    this.uwsApp = uws.App();
    // uWS's app is the seam's app: its route handlers take uWS's request and response, which
    // have every method `HttpApp` promises (the seam was cut from this API).
    this.app = this.uwsApp as unknown as HttpApp;
  }

  attachSocketIo(io: import('socket.io').Server, options: SocketIoAttachOptions): void {
    const uwsOptions = {
      compression: this.uws.DISABLED,
      idleTimeout: options.idleTimeoutSec,
      maxBackpressure: options.maxBackpressureBytes,
    };
    io.attachApp(this.uwsApp, uwsOptions as Parameters<typeof io.attachApp>[1]);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.uwsApp.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${host}:${port}`));
        this.listenSocket = socket;
        resolve(this.uws.us_socket_local_port(socket));
      });
    });
  }

  stopListening(): void {
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
  }

  close(): void {
    // Closes anything uWS still holds (e.g. keep-alive HTTP sockets).
    (this.uwsApp as uWS.TemplatedApp & { close(): void }).close();
  }
}
