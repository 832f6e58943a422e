/**
 * Wire protocol, version 1: JSON text frames over WebSocket (`/ws`) and the same operations as
 * Socket.IO events (docs/protocol.md documents exactly these types). The one definition shared by
 * the gateway (src/gateway), the SDK (src/client, and through it the web app) and the test and
 * benchmark clients. It imports nothing outside this folder and no Node module, so it runs in a
 * browser; test/protocol.test.ts checks that.
 */

export const PROTOCOL_VERSION = 1;
/** Offered as a WebSocket subprotocol; the gateway echoes it back. Clients may also omit it. */
export const SUBPROTOCOL = 'chat.v1';

export * from './client-frames.ts';
export * from './close-codes.ts';
export * from './connect.ts';
export * from './errors.ts';
export * from './ids.ts';
export * from './parse.ts';
export * from './position.ts';
export * from './search.ts';
export * from './server-frames.ts';
