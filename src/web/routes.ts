/**
 * Serves the web chat app (`/`) and the operations dashboard page (`/dashboard`) on a gateway's
 * HTTP app (`transport/`), plus `/web/config.json`, which tells the app what it cannot know from its own URL:
 * the region, whether dev tokens are on, and other gateways to fail over to.
 */
import type { HttpApp, HttpRequest, HttpResponse } from '../gateway/transport/types.ts';
import { type Asset, webAssets } from './assets.ts';

export interface WebConfig {
  region: string;
  gatewayId: string;
  /** `GET /dev/token?user=` is served: the app can sign in by user id alone. */
  devTokens: boolean;
  /** WebSocket URLs to try after this gateway's own `/ws` (other gateways and regions). */
  failoverUrls: string[];
}

/**
 * Scripts only from this origin; sockets to any ws(s) host, since failover URLs may name other
 * gateways, and HTTP(S) to them for attachments (the SDK uploads to the gateway it is connected
 * to). Images also from `blob:`: attachments are fetched with the token and shown from blob URLs.
 * Nothing is inlined, so no 'unsafe-inline'.
 */
const CSP =
  "default-src 'self'; connect-src 'self' ws: wss: http: https:; img-src 'self' data: blob:; style-src 'self'; " +
  "script-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

function serve(res: HttpResponse, req: HttpRequest, path: string): void {
  const ifNoneMatch = req.getHeader('if-none-match');
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  webAssets().then(
    (assets) => {
      if (aborted) return;
      const a: Asset | undefined = assets.get(path);
      res.cork(() => {
        if (!a) {
          res.writeStatus('404 Not Found').writeHeader('content-type', 'text/plain').end('not found');
          return;
        }
        res
          .writeStatus(a.etag === ifNoneMatch ? '304 Not Modified' : '200 OK')
          .writeHeader('etag', a.etag)
          // Revalidate every time: the bundle changes with the code, and revalidation is one 304.
          .writeHeader('cache-control', 'no-cache')
          .writeHeader('x-content-type-options', 'nosniff');
        if (a.type.startsWith('text/html')) {
          res.writeHeader('content-security-policy', CSP).writeHeader('referrer-policy', 'no-referrer');
        }
        res.writeHeader('content-type', a.type);
        if (a.etag === ifNoneMatch) res.endWithoutBody();
        else res.end(a.body);
      });
    },
    (err: unknown) => {
      if (aborted) return;
      const message = err instanceof Error ? err.message : String(err);
      res.cork(() => {
        res
          .writeStatus('503 Service Unavailable')
          .writeHeader('content-type', 'text/plain; charset=utf-8')
          .end(`web app unavailable: ${message}\n`);
      });
    },
  );
}

export function registerWebRoutes(app: HttpApp, config: () => WebConfig): void {
  app.get('/', (res, req) => serve(res, req, '/'));
  app.get('/dashboard', (res, req) => serve(res, req, '/dashboard'));
  app.get('/assets/*', (res, req) => serve(res, req, req.getUrl()));
  app.get('/favicon.ico', (res, req) => serve(res, req, '/assets/favicon.svg'));
  app.get('/web/config.json', (res) => {
    res
      .writeHeader('content-type', 'application/json')
      .writeHeader('cache-control', 'no-store')
      .end(JSON.stringify(config()));
  });
}
