/**
 * The response to a WebSocket upgrade request: there is no `ServerResponse`, only the raw socket.
 * A refusal is written on it raw as an HTTP response; `upgrade` hands the socket to the endpoint
 * that received the request, which completes the handshake with `ws`.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpResponse, UpgradeContext } from '../types.ts';
import { type Body, byteLength, toBuffer } from './bytes.ts';
import { parseStatus } from './http.ts';

/**
 * What the upgrade handler gets as its context and passes back to `res.upgrade`: the endpoint
 * (`WsEndpoint`), which accepts the socket with the subprotocol the handler chose.
 */
export interface WsAcceptor<UserData> {
  accept(req: IncomingMessage, raw: Duplex, head: Buffer, userData: UserData, protocol: string): void;
}

/** The response to a WebSocket upgrade request: a refusal written raw, or the upgrade. */
export class UpgradeResponse implements HttpResponse {
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
    (context as WsAcceptor<UserData>).accept(this.req, this.socket, this.head, userData, protocol);
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
