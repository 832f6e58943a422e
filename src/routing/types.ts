/**
 * Routing contract: moves an already-serialized server frame to every connection of a user,
 * wherever in the region that user is connected. The payload is opaque to routing.
 * Implementations: `MemoryRouter` (in-process bus, `npm start` and single-process tests) and
 * `NatsRouter` (per-user subjects on the region's NATS). Both pass `test/routing.contract.ts`.
 *
 * A gateway calls `addUser` when a user's first connection opens on it and `removeUser` when the
 * last one closes; it receives, through `onDelivery`, payloads published to those users by other
 * gateways. A gateway does not receive its own publishes (it delivers to its local sockets
 * directly).
 */

export interface Delivery {
  userId: string;
  payload: string;
}

export type DeliveryHandler = (delivery: Delivery) => void;

export interface Router {
  start(onDelivery: DeliveryHandler): Promise<void>;
  close(): Promise<void>;
  ping(): Promise<void>;
  addUser(userId: string): void;
  removeUser(userId: string): void;
  /** Publish one payload to several users. Resolves once handed to the transport. */
  publish(userIds: readonly string[], payload: string): Promise<void>;
}
