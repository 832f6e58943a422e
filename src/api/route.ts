/**
 * The server API's unit: one route, described once (method, path, schemas) so that the same
 * description validates requests, answers them and documents them in the OpenAPI document the
 * gateway serves. Route modules (`routes/`) each return the routes of one concern; `routes/index.ts`
 * lists the modules. Handlers throw `ChatError` with a catalogue code for anything the caller got
 * wrong; the API maps codes to HTTP statuses in one place.
 */
import type { z } from 'zod';
import type { Gateway } from '../gateway/gateway.ts';

export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Who is calling: an operator's API key (by its configured name) or a JWT with the admin claim. */
export interface ApiPrincipal {
  kind: 'api-key' | 'admin-jwt';
  id: string;
}

export interface ApiRequest<B> {
  /** Path parameters by name (`{id}` in the path template). */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** The JSON body, already validated by the route's `body` schema (undefined without one). */
  body: B;
  principal: ApiPrincipal;
  /** The `Idempotency-Key` header: a write repeated with the same key has its effect once. */
  idempotencyKey: string | null;
}

/** Where the routes are mounted: a route's `path` is below it. */
export const API_PREFIX = '/api';

export interface ApiQueryParam {
  name: string;
  description: string;
}

export interface ApiRoute<B = unknown, R = unknown> {
  method: ApiMethod;
  /** An OpenAPI path template under the API's prefix, e.g. `/v1/conversations/{id}/members`. */
  path: string;
  operationId: string;
  summary: string;
  /** The OpenAPI tag the route is listed under (its concern: conversations, messages, ...). */
  tag: string;
  body?: z.ZodType<B>;
  /** Query parameters the route reads (`req.query`), for the OpenAPI document. */
  query?: readonly ApiQueryParam[];
  response: z.ZodType<R>;
  /** The HTTP status of a success; 200 unless set. */
  status?: number;
  handle(req: ApiRequest<B>): Promise<R>;
}

/** A concern's routes, built with the gateway whose services they call. */
export type RouteModule = (gw: Gateway) => ApiRoute[];
