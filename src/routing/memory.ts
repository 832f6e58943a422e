import type { ControlEvent, Delivery, Routed, Router, RouterHandlers } from './types.ts';
import { assertUserId } from './user-id.ts';

/**
 * An in-process message bus. Every `MemoryRouter` built on the same bus receives what the
 * others publish to the users it holds, and every control event the others publish; routers on
 * different buses never see each other. `Routed` objects are passed as they are, not copied.
 */
export class MemoryBus {
  private readonly routes = new Map<string, Set<MemoryRouter>>();
  /** Started, not yet closed routers: the audience of control events. */
  private readonly started = new Set<MemoryRouter>();

  /** @internal */
  join(router: MemoryRouter): void {
    this.started.add(router);
  }

  /** @internal */
  leave(router: MemoryRouter): void {
    this.started.delete(router);
  }

  /** @internal */
  broadcast(from: MemoryRouter, event: ControlEvent): void {
    for (const router of this.started) if (router !== from) router.enqueueControl(event);
  }

  /** @internal */
  attach(userId: string, router: MemoryRouter): void {
    let routers = this.routes.get(userId);
    if (!routers) {
      routers = new Set();
      this.routes.set(userId, routers);
    }
    routers.add(router);
  }

  /** @internal */
  detach(userId: string, router: MemoryRouter): void {
    const routers = this.routes.get(userId);
    if (!routers) return;
    routers.delete(router);
    if (routers.size === 0) this.routes.delete(userId);
  }

  /** @internal */
  publish(from: MemoryRouter, userIds: readonly string[], routed: Routed): void {
    for (const userId of userIds) {
      const routers = this.routes.get(userId);
      if (!routers) continue;
      for (const router of routers) {
        if (router !== from) router.enqueue({ userId, routed });
      }
    }
  }
}

/**
 * Routing over a `MemoryBus`, for a single process (`npm start`, tests). Delivery is
 * asynchronous (a microtask), like a real transport, and in publish order per publisher.
 */
export class MemoryRouter implements Router {
  private readonly users = new Set<string>();
  private handlers: RouterHandlers | undefined;
  private closed = false;

  constructor(readonly bus: MemoryBus = new MemoryBus()) {}

  async start(handlers: RouterHandlers): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: start after close');
    this.handlers = handlers;
    this.bus.join(this);
    for (const userId of this.users) this.bus.attach(userId, this);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.bus.leave(this);
    for (const userId of this.users) this.bus.detach(userId, this);
    this.users.clear();
    this.handlers = undefined;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: closed');
  }

  addUser(userId: string): void {
    assertUserId(userId);
    if (this.closed || this.users.has(userId)) return;
    this.users.add(userId);
    if (this.handlers) this.bus.attach(userId, this);
  }

  removeUser(userId: string): void {
    assertUserId(userId);
    if (!this.users.delete(userId)) return;
    this.bus.detach(userId, this);
  }

  async publish(userIds: readonly string[], routed: Routed): Promise<void> {
    for (const userId of userIds) assertUserId(userId);
    if (this.closed) throw new Error('MemoryRouter: publish after close');
    this.bus.publish(this, userIds, routed);
  }

  async publishControl(event: ControlEvent): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: publish after close');
    this.bus.broadcast(this, event);
  }

  /** @internal Called by the bus. */
  enqueue(delivery: Delivery): void {
    queueMicrotask(() => {
      // Re-checked at delivery time: the user may have been removed in between.
      if (this.handlers && this.users.has(delivery.userId)) this.handlers.onDelivery(delivery);
    });
  }

  /** @internal Called by the bus; queued like deliveries, so the two keep their order. */
  enqueueControl(event: ControlEvent): void {
    queueMicrotask(() => this.handlers?.onControl(event));
  }
}
