/**
 * The live dashboard's WebSocket, `/dashboard/ws?token=<operator token>` on the gateway's HTTP app (`transport/`).
 * The upgrade is refused (HTTP 401) unless the token equals `auth.operatorToken`; with no operator
 * token configured the dashboard is off (HTTP 404). An accepted socket gets a `hello` with the
 * recent samples and the whole deployment's view (`fleet/`, with each gateway's last hour), then
 * one `sample` per `dashboard.intervalMs` with the view's latest figures. The sampler runs all the
 * time (every gateway publishes its figures for the others); the endpoint only relays. `GET
 * /dashboard/check` with `Authorization: Bearer <token>` answers 204 or 401, so the page can tell
 * a wrong token from a gateway that is down; `GET /dashboard/fleet`, with the same header, answers
 * the deployment's view as JSON (`FleetView`, with history).
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import type { DashboardConfig } from '../config/schema.ts';
import { ErrorCode } from '../errors.ts';
import { COMPRESSION_DISABLED, type HttpApp, type WebSocket } from '../gateway/transport/types.ts';
import type { Fleet } from './fleet/fleet.ts';
import type { DashboardSampler } from './sampler.ts';
import type { DashboardFrame, DashboardSample } from './types.ts';

const TOPIC = 'dashboard';

export interface DashboardEndpointDeps {
  sampler: DashboardSampler;
  fleet: Fleet;
  config: DashboardConfig;
  operatorToken: string | undefined;
  region: string;
  gatewayId: string;
  multiRegion: boolean;
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string | undefined): boolean {
  if (!expected || !presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

interface DashboardSocketData {
  open: boolean;
}

export class DashboardEndpoint {
  private readonly sockets = new Set<WebSocket<DashboardSocketData>>();
  private closed = false;

  constructor(
    private readonly app: HttpApp,
    private readonly d: DashboardEndpointDeps,
  ) {
    app.get('/dashboard/check', (res, req) => {
      const auth = req.getHeader('authorization');
      const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      const status = this.authStatus(token);
      res.cork(() => {
        res.writeStatus(status).writeHeader('cache-control', 'no-store').end();
      });
    });
    app.get('/dashboard/fleet', (res, req) => {
      const auth = req.getHeader('authorization');
      const status = this.authStatus(auth.startsWith('Bearer ') ? auth.slice(7) : '');
      res.cork(() => {
        res.writeStatus(status === '204 No Content' ? '200 OK' : status);
        res.writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
        res.end(status === '204 No Content' ? JSON.stringify(this.d.fleet.view(true)) : errorBody(status));
      });
    });
    app.ws<DashboardSocketData>('/dashboard/ws', {
      compression: COMPRESSION_DISABLED,
      maxPayloadLength: 1024,
      idleTimeout: 60,
      sendPingsAutomatically: true,
      // A dashboard that cannot keep up loses samples rather than growing our buffer.
      maxBackpressure: 1024 * 1024,
      upgrade: (res, req, context) => {
        const auth = req.getHeader('authorization');
        const token = req.getQuery('token') || (auth.startsWith('Bearer ') ? auth.slice(7) : '');
        const status = this.closed ? '503 Service Unavailable' : this.authStatus(token);
        if (status !== '204 No Content') {
          res.writeStatus(status).writeHeader('content-type', 'application/json').end(errorBody(status));
          return;
        }
        res.upgrade<DashboardSocketData>(
          { open: true },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => this.onOpen(ws),
      close: (ws) => this.onClose(ws),
    });
  }

  /** Open dashboard sockets (for tests). */
  get size(): number {
    return this.sockets.size;
  }

  /** Sends a sample, with the deployment's latest figures, to every open dashboard. */
  broadcast(sample: DashboardSample): void {
    if (this.sockets.size === 0) return;
    const frame: DashboardFrame = { type: 'sample', sample, fleet: this.d.fleet.view(false) };
    this.app.publish(TOPIC, JSON.stringify(frame), false);
  }

  /** Closes every dashboard socket (1001); called when the gateway stops. */
  close(): void {
    this.closed = true;
    for (const ws of [...this.sockets]) {
      if (ws.getUserData().open) ws.end(1001, 'gateway stopping');
    }
  }

  private authStatus(token: string): string {
    if (!this.d.operatorToken) return '404 Not Found';
    return tokenMatches(token, this.d.operatorToken) ? '204 No Content' : '401 Unauthorized';
  }

  private onOpen(ws: WebSocket<DashboardSocketData>): void {
    this.sockets.add(ws);
    const hello: DashboardFrame = {
      type: 'hello',
      region: this.d.region,
      gatewayId: this.d.gatewayId,
      multiRegion: this.d.multiRegion,
      config: {
        errorRateAlert: this.d.config.errorRateAlert,
        windowSec: this.d.config.windowSec,
        intervalMs: this.d.config.intervalMs,
        regionUnreachableMs: this.d.config.regionUnreachableMs,
      },
      history: this.d.sampler.history(),
      fleet: this.d.fleet.view(true),
    };
    ws.send(JSON.stringify(hello), false);
    ws.subscribe(TOPIC);
  }

  private onClose(ws: WebSocket<DashboardSocketData>): void {
    ws.getUserData().open = false;
    this.sockets.delete(ws);
  }
}

function errorBody(status: string): string {
  return JSON.stringify({
    error: {
      code: status.startsWith('404')
        ? ErrorCode.NotFound
        : status.startsWith('503')
          ? ErrorCode.ShuttingDown
          : ErrorCode.Unauthorized,
      message: status.startsWith('404') ? 'dashboard disabled: no auth.operatorToken configured' : status,
    },
  });
}
