/**
 * The `HttpApp` of the `ws` transport: the routes (kept ranked, most specific first), the
 * WebSocket endpoints by path and the topics they share. `NodeTransport` serves requests and
 * upgrades from it.
 */
import type { HttpApp, WsBehavior } from '../types.ts';
import type { Body } from './bytes.ts';
import { WsEndpoint } from './endpoint.ts';
import { type Handler, Route } from './route.ts';
import { Topics } from './topics.ts';

export class NodeApp implements HttpApp {
  readonly routes: Route[] = [];
  readonly endpoints = new Map<string, WsEndpoint<unknown>>();
  readonly topics = new Topics();

  get(pattern: string, handler: Handler): HttpApp {
    return this.add('get', pattern, handler);
  }

  post(pattern: string, handler: Handler): HttpApp {
    return this.add('post', pattern, handler);
  }

  any(pattern: string, handler: Handler): HttpApp {
    return this.add('any', pattern, handler);
  }

  ws<UserData>(pattern: string, behavior: WsBehavior<UserData>): HttpApp {
    this.endpoints.set(pattern, new WsEndpoint(behavior, this.topics) as WsEndpoint<unknown>);
    return this;
  }

  publish(topic: string, message: Body, isBinary = false): boolean {
    return this.topics.publish(topic, message, isBinary, null);
  }

  numSubscribers(topic: string): number {
    return this.topics.count(topic);
  }

  private add(method: string, pattern: string, handler: Handler): HttpApp {
    this.routes.push(new Route(method, pattern, handler));
    this.routes.sort((a, b) => a.rank - b.rank);
    return this;
  }
}
