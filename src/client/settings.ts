/**
 * The connection's settings, checked and completed with their defaults once, in the constructor:
 * a bad option fails there with a `TypeError`, not on every reconnect.
 */
import { type BackoffOptions, DEFAULT_BACKOFF, DEFAULT_RESEND_BACKOFF, validateBackoff } from './backoff.ts';
import {
  type ChatClientOptions,
  DEFAULT_FAILOVER_AFTER_UNAVAILABLE,
  DEFAULT_FAILOVER_AFTER_UNAVAILABLE_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './options.ts';
import type { WebSocketConstructor } from './socket.ts';
import { type ClientStorage, MemoryClientStorage } from './storage.ts';
import { DEVICE_LABEL_MAX } from './types.ts';

export interface ConnectionSettings {
  readonly urls: readonly string[];
  readonly WS: WebSocketConstructor;
  readonly backoff: BackoffOptions;
  readonly resendBackoff: BackoffOptions;
  readonly requestTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly storage: ClientStorage;
  readonly random: () => number;
  /** The sender's report of a region that keeps answering `unavailable` (see `SenderDeps`). */
  readonly failover: { afterUnavailable: number; afterMs: number };
}

export function connectionSettings(options: ChatClientOptions): ConnectionSettings {
  if (!Array.isArray(options.urls) || options.urls.length === 0) {
    throw new TypeError('ChatClient: urls must list at least one gateway URL');
  }
  // The gateway refuses a longer label (invalid_field): fail here, not on every reconnect.
  if (options.device !== undefined && options.device.length > DEVICE_LABEL_MAX) {
    throw new TypeError(`ChatClient: device must be at most ${DEVICE_LABEL_MAX} characters`);
  }
  const urls = [...options.urls];
  const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WS) {
    throw new TypeError('ChatClient: no global WebSocket here; pass the WebSocket option (e.g. from "ws")');
  }
  return {
    urls,
    WS,
    backoff: validateBackoff({ ...DEFAULT_BACKOFF, ...options.backoff }),
    resendBackoff: validateBackoff({ ...DEFAULT_RESEND_BACKOFF, ...options.resendBackoff }),
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    pingTimeoutMs: options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS,
    storage: options.storage ?? new MemoryClientStorage(),
    random: options.random ?? Math.random,
    // With one URL there is nowhere else to go: keep resending.
    failover: {
      afterUnavailable:
        urls.length > 1 ? (options.failoverAfterUnavailable ?? DEFAULT_FAILOVER_AFTER_UNAVAILABLE) : 0,
      afterMs: options.failoverAfterUnavailableMs ?? DEFAULT_FAILOVER_AFTER_UNAVAILABLE_MS,
    },
  };
}
