/**
 * Bodies and frames as the gateway hands them to the transport (uWS's kinds: string, view or
 * ArrayBuffer), converted to what `node:http` and `ws` take, and back to the ArrayBuffers
 * handlers get.
 */

export type Body = string | Uint8Array | ArrayBuffer;

export const toBuffer = (body: Body): Buffer | string =>
  typeof body === 'string' ? body : body instanceof ArrayBuffer ? Buffer.from(body) : Buffer.from(body);

export const byteLength = (body: Body): number =>
  typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;

/** A fresh ArrayBuffer holding `buf` (handlers get ArrayBuffers, as from uWS). */
export function arrayBufferOf(buf: Buffer): ArrayBuffer {
  const ab = new ArrayBuffer(buf.byteLength);
  new Uint8Array(ab).set(buf);
  return ab;
}
