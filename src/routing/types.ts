/**
 * Routing contract: moves an already-serialized server frame to the connections of some users on
 * another gateway of the region, with its metadata beside the bytes (`Routed`), and broadcasts
 * control events between the region's gateways (`ControlEvent`). The frame is opaque to routing:
 * nobody parses it to learn what it is.
 * Implementations: `MemoryRouter` (in-process bus, `npm start` and single-process tests) and
 * `NatsRouter` (one subject per gateway on the region's NATS). Both pass `test/routing.contract.ts`.
 *
 * Routing is addressed to gateways, not users: the sender finds which gateways hold the
 * recipients (presence, `Presence.locate`) and publishes once per gateway with the recipients'
 * ids beside the frame; the receiving gateway hands them, through `onDelivery`, to its local
 * delivery, which writes to whichever of those users it holds. A router listens for its gateway
 * from `start()` on (once `start` resolves, the transport has its subscription), and receives
 * through `onControl` every control event another gateway of the region published.
 * A gateway does not receive its own publishes (it delivers to its local sockets directly).
 * Delivery is at-most-once: when a router knows it may have missed deliveries (its transport
 * connection was lost and came back), it says so through `onGap`, and the gateway replays what
 * its open connections may have missed (`src/gateway/resync.ts`). The in-process bus never has
 * gaps.
 */

import type { Revocation } from '../storage/revocations.ts';

/**
 * A serialized server frame with what the gateway needs to know about it without parsing it.
 * The same object may be handed to every recipient: treat it as immutable.
 */
export type Routed =
  | {
      /** A live chat message frame. */
      readonly kind: 'message';
      /** The message's id (decimal): a connection that just replayed it drops the live copy. */
      readonly messageId: string;
      /** The message's `createdAt` (ms): end-to-end delivery latency is measured from it. */
      readonly createdAt: number;
      readonly frame: string;
    }
  | {
      /** Any other frame: receipts, typing, conversation events. */
      readonly kind: 'event';
      readonly frame: string;
    };

export type RoutedKind = Routed['kind'];

/** A message between the region's gateways themselves, never sent to a client. */
export type ControlEvent =
  /**
   * A conversation's members, roles or bans changed (or it was created): drop any cached member
   * list (which holds the roles and bans too).
   */
  | { type: 'members_changed'; conversationId: string }
  /** Whom `userId` blocks changed: drop any cached block list of theirs. */
  | { type: 'blocks_changed'; userId: string }
  /** A user's sessions end (a revocation, or an operator's disconnect): close them (4403). */
  | { type: 'sessions_ended'; end: SessionsEnd };

/**
 * Which sessions to end: those whose token a revocation covers (and the revocation is recorded
 * so that the token is refused from now on), or a user's sessions opened before `at` (an
 * operator's disconnect; the user may connect again at once).
 */
export type SessionsEnd =
  | { kind: 'revoked'; revocation: Revocation }
  | { kind: 'disconnect'; userId: string; at: number };

/** One frame for some users of the receiving gateway. */
export interface Delivery {
  userIds: readonly string[];
  routed: Routed;
}

export type DeliveryHandler = (delivery: Delivery) => void;
export type ControlHandler = (event: ControlEvent) => void;

/** Deliveries to this router's users are being, or were, lost since `since`. */
export interface RoutingGap {
  /**
   * When the router last knew it was receiving everything (ms since epoch, this process's
   * clock): at or before the loss began.
   */
  since: number;
  /** When the transport came back (deliveries from then on arrive again); null: not yet. */
  until: number | null;
}
export type GapHandler = (gap: RoutingGap) => void;

export interface RouterHandlers {
  onDelivery: DeliveryHandler;
  onControl: ControlHandler;
  /**
   * Called when the transport loses its connection (`until` null) and once more when it is back
   * (`until` set); never by a transport that cannot lose deliveries.
   */
  onGap: GapHandler;
}

export interface Router {
  /** The gateway this router receives for: what other gateways address their publishes to. */
  readonly gatewayId: string;
  /** Starts listening for this gateway; resolves once the transport has the subscription. */
  start(handlers: RouterHandlers): Promise<void>;
  close(): Promise<void>;
  ping(): Promise<void>;
  /**
   * Publish one frame to `userIds` on gateway `gatewayId` of the region (never this router's
   * own): one transport message however many users. Resolves once handed to the transport.
   * Publishes and control events of one router reach another router in the order they were
   * called. A gateway nobody listens for (it died) drops it.
   */
  publish(gatewayId: string, userIds: readonly string[], routed: Routed): Promise<void>;
  /** Publish a control event to every other gateway of the region (not to this one). */
  publishControl(event: ControlEvent): Promise<void>;
}
