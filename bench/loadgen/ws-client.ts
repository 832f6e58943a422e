/**
 * A minimal RFC 6455 WebSocket client on a raw TCP socket, for the load generator only.
 *
 * Why not `ws`: a load generator on the same 2-core machine as the server must spend as little
 * CPU per frame as it can, or it becomes the bottleneck it is meant to measure. This client
 * hands each received text frame to the caller as a (buffer, start, end) view without decoding
 * it to a string, and binds each socket to a chosen local address (127.0.0.x) so tens of
 * thousands of connections do not exhaust one address's ephemeral ports.
 *
 * It speaks what the benchmark needs: the upgrade, masked text frames out, text / ping / close
 * frames in (fragmented messages are reassembled), no extensions.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface WsClientOptions {
  host: string;
  port: number;
  /** Path and query, e.g. `/ws?token=…`. */
  path: string;
  localAddress?: string;
  /** Offered in Sec-WebSocket-Protocol. */
  protocol?: string;
  timeoutMs?: number;
}

/** Receives each text frame as a view into `buf`, and the client it arrived on. */
export type TextHandler = (buf: Buffer, start: number, end: number, client: WsClient) => void;

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** A cheap per-process xorshift for mask keys: the server's unmasking cost does not depend on them. */
let maskState = randomBytes(4).readUInt32LE(0) | 1;
function nextMask(): number {
  maskState ^= maskState << 13;
  maskState ^= maskState >>> 17;
  maskState ^= maskState << 5;
  return maskState >>> 0;
}

export class WsClient {
  onText: TextHandler = () => {};
  onClose: (code: number | null) => void = () => {};
  closed = false;
  /** The last socket error, for diagnosing a close without a close frame. */
  lastError: string | null = null;
  private closedNotified = false;
  private pending: Buffer | null = null;
  private fragments: Buffer[] | null = null;
  private fragmentOp = 0;

  private constructor(private readonly socket: Socket) {}

  /**
   * Opens the socket and completes the upgrade; rejects on refusal (with the HTTP status line).
   * The handlers are installed before the first frame is parsed: a server may send frames in the
   * same packet as its 101.
   */
  static connect(
    opts: WsClientOptions,
    handlers: { onText: TextHandler; onClose: (code: number | null) => void },
  ): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: opts.host,
        port: opts.port,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new Error('upgrade timed out')), opts.timeoutMs ?? 30_000);
      let head: Buffer = Buffer.alloc(0);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.once('close', () => fail(new Error('closed during upgrade')));
      let local = '';
      socket.once('connect', () => {
        local = `${socket.localAddress}:${socket.localPort}`;
        const key = randomBytes(16).toString('base64');
        const lines = [
          `GET ${opts.path} HTTP/1.1`,
          `Host: ${opts.host}:${opts.port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`,
          'Sec-WebSocket-Version: 13',
        ];
        if (opts.protocol) lines.push(`Sec-WebSocket-Protocol: ${opts.protocol}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      const onHead = (chunk: Buffer) => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16_384) fail(new Error('upgrade response too large'));
          return;
        }
        const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(statusLine)) {
          fail(new Error(`upgrade refused: ${statusLine}`));
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.off('data', onHead);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        const client = new WsClient(socket);
        client.local = local;
        if (process.env.BENCH_TRACE) client.trace = [];
        client.onText = handlers.onText;
        client.onClose = handlers.onClose;
        socket.on('data', (c: Buffer) => client.onData(c));
        socket.on('error', (err) => {
          client.lastError = err.message;
        });
        socket.on('close', () => client.handleClose(null));
        resolve(client);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) client.onData(rest);
      };
      socket.on('data', onHead);
    });
  }

  /** Sends one masked text frame. */
  sendText(text: string): void {
    if (this.closed) return;
    const len = Buffer.byteLength(text);
    this.socket.write(this.frame(OP_TEXT, len, (buf, off) => buf.write(text, off)));
  }

  /** Sends a close frame and ends the socket. */
  close(code = 1000): void {
    if (this.closed) return;
    this.socket.write(
      this.frame(OP_CLOSE, 2, (buf, off) => {
        buf.writeUInt16BE(code, off);
        return 2;
      }),
    );
    this.socket.end();
    this.closed = true;
  }

  /** `address:port` this socket was bound to (diagnostics). */
  local = '';

  /** Drops the TCP connection without a close frame. */
  destroy(): void {
    this.socket.destroy();
  }

  private frame(op: number, len: number, write: (buf: Buffer, off: number) => number): Buffer {
    const ext = len < 126 ? 0 : len < 65_536 ? 2 : 8;
    const off = 2 + ext + 4;
    const buf = Buffer.allocUnsafe(off + len);
    buf[0] = 0x80 | op;
    if (ext === 0) buf[1] = 0x80 | len;
    else if (ext === 2) {
      buf[1] = 0x80 | 126;
      buf.writeUInt16BE(len, 2);
    } else {
      buf[1] = 0x80 | 127;
      buf.writeBigUInt64BE(BigInt(len), 2);
    }
    const mask = nextMask();
    buf.writeUInt32BE(mask, 2 + ext);
    write(buf, off);
    const m0 = mask >>> 24;
    const m1 = (mask >>> 16) & 0xff;
    const m2 = (mask >>> 8) & 0xff;
    const m3 = mask & 0xff;
    for (let i = 0; i < len; i++) {
      const k = i & 3;
      buf[off + i]! ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
    }
    return buf;
  }

  /** While set, raw bytes received are kept here (diagnosing a connection that fails early). */
  trace: Buffer[] | null = null;

  private onData(chunk: Buffer): void {
    if (this.trace && this.trace.length < 16) this.trace.push(Buffer.from(chunk));
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let pos = 0;
    while (buf.length - pos >= 2) {
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (buf.length - pos < 4) break;
        len = buf.readUInt16BE(pos + 2);
        hdr = 4;
      } else if (len === 127) {
        if (buf.length - pos < 10) break;
        len = Number(buf.readBigUInt64BE(pos + 2));
        hdr = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) hdr += 4;
      if (buf.length - pos < hdr + len) break;
      const start = pos + hdr;
      if (masked) {
        const mk = pos + hdr - 4;
        for (let i = 0; i < len; i++) buf[start + i]! ^= buf[mk + (i & 3)]!;
      }
      this.onFrame(b0 & 0x80 ? 1 : 0, b0 & 0x0f, buf, start, start + len);
      pos = start + len;
      if (this.closed) return;
    }
    if (pos < buf.length) {
      // Keep only the unparsed tail; copy it so the big chunk it came from can be collected.
      this.pending = Buffer.from(buf.subarray(pos));
    }
  }

  private onFrame(fin: number, op: number, buf: Buffer, start: number, end: number): void {
    if (op === OP_TEXT || op === OP_BINARY) {
      if (fin) this.onText(buf, start, end, this);
      else {
        this.fragmentOp = op;
        this.fragments = [Buffer.from(buf.subarray(start, end))];
      }
    } else if (op === OP_CONT && this.fragments) {
      this.fragments.push(Buffer.from(buf.subarray(start, end)));
      if (fin) {
        const whole = Buffer.concat(this.fragments);
        this.fragments = null;
        if (this.fragmentOp === OP_TEXT || this.fragmentOp === OP_BINARY)
          this.onText(whole, 0, whole.length, this);
      }
    } else if (op === OP_PING) {
      const payload = buf.subarray(start, end);
      this.socket.write(
        this.frame(OP_PONG, payload.length, (out, off) => {
          payload.copy(out, off);
          return payload.length;
        }),
      );
    } else if (op === OP_CLOSE) {
      const code = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      this.close(code === 1005 ? 1000 : code);
      this.handleClose(code);
    }
  }

  private handleClose(code: number | null): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.closed = true;
    this.onClose(code);
  }
}
