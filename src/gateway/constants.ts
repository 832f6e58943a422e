/**
 * Fixed tuning values of the gateway that are not worth a config knob: each is a trade-off
 * internal to the implementation (memory against round trips, latency against syscalls), not a
 * limit an operator or a client sees. What an operator may change is in the config's `limits`.
 */

/**
 * A replay (or resync) pauses once this many bytes wait for the client's socket, so a slow
 * reader cannot make the gateway buffer its whole backlog in memory.
 */
export const REPLAY_HIGH_WATER_BYTES = 256 * 1024;

/**
 * A replay paused at the high water carries on below this many buffered bytes: low enough that
 * the socket still has frames to write while the next page is read, high enough not to wake per
 * frame. Both transports (raw WebSocket and Socket.IO) use it.
 */
export const DRAIN_LOW_WATER_BYTES = 64 * 1024;

/** Socket.IO does not expose uWS's drain event: a paused replay polls its buffer this often. */
export const DRAIN_POLL_MS = 10;

/** Offline-queue entries read per store round trip during a replay. */
export const REPLAY_OFFLINE_PAGE = 500;

/** History messages read per store round trip when a replay catches up a conversation. */
export const REPLAY_HISTORY_PAGE = 200;

/**
 * Frames (Socket.IO packets) up to this many times `limits.maxFrameBytes` are read in full so the
 * gateway can refuse them the documented way: a `frame_too_large` error, then close 4413. A
 * larger one is cut by uWS (engine.io) as soon as its header announces the size, without a close
 * frame (the client sees 1006). Refusing any size cleanly would mean buffering whatever a client
 * sends; this bounds the buffer at 1 MiB per connection with the default 64 KiB limit.
 */
export const OVERSIZED_FRAME_READ_FACTOR = 16;

/** Late-index entries read per store round trip when a replay reads a conversation's late arrivals. */
export const REPLAY_LATE_PAGE = 200;
