import type { Delivery, DeliveryHandler, Router } from './types.ts';
import { assertUserId } from './user-id.ts';

/**
 * An in-process message bus. Every `MemoryRouter` built on the same bus receives what the
 * others publish to the users it holds; routers on different buses never see each other.
 */
export class MemoryBus {
  private readonly routes = new Map<string, Set<MemoryRouter>>();

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
  publish(from: MemoryRouter, userIds: readonly string[], payload: string): void {
    for (const userId of userIds) {
      const routers = this.routes.get(userId);
      if (!routers) continue;
      for (const router of routers) {
        if (router !== from) router.enqueue({ userId, payload });
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
  private handler: DeliveryHandler | undefined;
  private closed = false;

  constructor(readonly bus: MemoryBus = new MemoryBus()) {}

  async start(onDelivery: DeliveryHandler): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: start after close');
    this.handler = onDelivery;
    for (const userId of this.users) this.bus.attach(userId, this);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const userId of this.users) this.bus.detach(userId, this);
    this.users.clear();
    this.handler = undefined;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: closed');
  }

  addUser(userId: string): void {
    assertUserId(userId);
    if (this.closed || this.users.has(userId)) return;
    this.users.add(userId);
    if (this.handler) this.bus.attach(userId, this);
  }

  removeUser(userId: string): void {
    assertUserId(userId);
    if (!this.users.delete(userId)) return;
    this.bus.detach(userId, this);
  }

  async publish(userIds: readonly string[], payload: string): Promise<void> {
    for (const userId of userIds) assertUserId(userId);
    if (this.closed) throw new Error('MemoryRouter: publish after close');
    this.bus.publish(this, userIds, payload);
  }

  /** @internal Called by the bus. */
  enqueue(delivery: Delivery): void {
    queueMicrotask(() => {
      // Re-checked at delivery time: the user may have been removed in between.
      if (this.handler && this.users.has(delivery.userId)) this.handler(delivery);
    });
  }
}
