import type { ControlEvent, Delivery, Routed, Router, RouterHandlers } from './types.ts';
import { assertGatewayId, assertUserId } from './user-id.ts';

/**
 * An in-process message bus. Every started `MemoryRouter` on the same bus receives what the
 * others publish to its gateway, and every control event the others publish; routers on
 * different buses never see each other. `Routed` objects are passed as they are, not copied.
 */
export class MemoryBus {
  /** Started, not yet closed routers by gateway id: the audience of publishes and control events. */
  private readonly started = new Map<string, MemoryRouter>();

  /** @internal */
  join(router: MemoryRouter): void {
    if (this.started.has(router.gatewayId)) {
      throw new Error(`MemoryBus: gateway ${router.gatewayId} is already on this bus`);
    }
    this.started.set(router.gatewayId, router);
  }

  /** @internal */
  leave(router: MemoryRouter): void {
    if (this.started.get(router.gatewayId) === router) this.started.delete(router.gatewayId);
  }

  /** @internal */
  broadcast(from: MemoryRouter, event: ControlEvent): void {
    for (const router of this.started.values()) if (router !== from) router.enqueueControl(event);
  }

  /** @internal A gateway nobody listens for drops it, like a NATS subject without subscribers. */
  publish(gatewayId: string, delivery: Delivery): void {
    this.started.get(gatewayId)?.enqueue(delivery);
  }
}

/**
 * Routing over a `MemoryBus`, for a single process (`npm start`, tests). Delivery is
 * asynchronous (a microtask), like a real transport, and in publish order per publisher.
 */
export class MemoryRouter implements Router {
  private handlers: RouterHandlers | undefined;
  private closed = false;

  constructor(
    readonly bus: MemoryBus,
    readonly gatewayId: string,
  ) {
    assertGatewayId(gatewayId);
  }

  async start(handlers: RouterHandlers): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: start after close');
    this.bus.join(this);
    this.handlers = handlers;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.bus.leave(this);
    this.handlers = undefined;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: closed');
  }

  async publish(gatewayId: string, userIds: readonly string[], routed: Routed): Promise<void> {
    assertGatewayId(gatewayId);
    for (const userId of userIds) assertUserId(userId);
    if (gatewayId === this.gatewayId) throw new RangeError('MemoryRouter: publish to its own gateway');
    if (this.closed) throw new Error('MemoryRouter: publish after close');
    if (userIds.length === 0) return;
    // Copied: the caller may reuse its array.
    this.bus.publish(gatewayId, { userIds: [...userIds], routed });
  }

  async publishControl(event: ControlEvent): Promise<void> {
    if (this.closed) throw new Error('MemoryRouter: publish after close');
    this.bus.broadcast(this, event);
  }

  /** @internal Called by the bus. */
  enqueue(delivery: Delivery): void {
    queueMicrotask(() => this.handlers?.onDelivery(delivery));
  }

  /** @internal Called by the bus; queued like deliveries, so the two keep their order. */
  enqueueControl(event: ControlEvent): void {
    queueMicrotask(() => this.handlers?.onControl(event));
  }
}
