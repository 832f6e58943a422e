/**
 * The server API on uWebSockets.js: reads the request (headers while uWS still holds them, then
 * the body up to the limit), hands it to `ApiHandler`, writes the answer. Everything else is in
 * the transport-agnostic handler.
 */

import { HttpReply } from '../gateway/http-reply.ts';
import type { HttpApp, HttpRequest, HttpResponse } from '../gateway/transport/types.ts';
import { ChatError, ErrorCode } from '../protocol/index.ts';
import type { ApiHandler, HttpResponseLike } from './handler.ts';
import { API_PREFIX } from './route.ts';
import { statusLine } from './status.ts';

export function registerApiOnUws(app: HttpApp, handler: ApiHandler): void {
  const serve = (res: HttpResponse, req: HttpRequest) => {
    const reply = new HttpReply(res);
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const query = req.getQuery() ?? '';
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = v;
    });
    const send = (r: HttpResponseLike, close = false) =>
      reply.end(statusLine(r.status), r.headers, r.body, close);
    const tooLarge = () =>
      handler.failure(
        new ChatError(ErrorCode.TooLarge, `request body over ${handler.maxBodyBytes} bytes`, {
          maxBodyBytes: handler.maxBodyBytes,
        }),
      );
    const declared = Number(headers['content-length'] ?? '0');
    if (declared > handler.maxBodyBytes) {
      // The body is left unread: the connection goes with the answer.
      send(tooLarge(), true);
      return;
    }
    if (declared === 0 && headers['transfer-encoding'] === undefined) {
      // No body to wait for (uWS calls onData only for a request that has one).
      void handler.handle({ method, path, query, headers, body: new Uint8Array(0) }).then((r) => send(r));
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    let refused = false;
    res.onData((chunk, isLast) => {
      if (refused) return;
      size += chunk.byteLength;
      if (size > handler.maxBodyBytes) {
        refused = true;
        send(tooLarge(), true);
        return;
      }
      // Copied: uWS reuses the chunk's memory after this callback.
      parts.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      const body = Buffer.concat(parts);
      void handler.handle({ method, path, query, headers, body }).then((r) => send(r));
    });
  };
  app.any(`${API_PREFIX}/*`, serve);
  app.any(API_PREFIX, serve);
}
