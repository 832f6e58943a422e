/**
 * Which transport a gateway runs on. uWebSockets.js when its native binary loads for this Node
 * ABI, platform and glibc; otherwise `ws` + `node:http`. The binary is loaded directly: the
 * package's own entry point falls back to a JavaScript stand-in when it does not load, which
 * starts but does not behave like uWS (it is treated as "not native", never used).
 *
 * `transport: uws` (or CHAT_TRANSPORT=uws) with no loadable binary fails at start, saying why.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { NodeTransport } from './node/index.ts';
import type { Transport, TransportName } from './types.ts';
import { type UwsModule, UwsTransport } from './uws.ts';

export type TransportChoice = 'auto' | TransportName;

const require = createRequire(import.meta.url);

/** The native uWS module for this runtime, or why there is none. Loaded once per process. */
let native: { module: UwsModule } | { reason: string } | undefined;

export function loadNativeUws(): { module: UwsModule } | { reason: string } {
  if (native) return native;
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    const dir = path.dirname(require.resolve('uWebSockets.js/package.json'));
    native = { module: require(path.join(dir, 'binaries', binary)) as UwsModule };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    native = {
      reason: `no native uWebSockets.js build for Node ${process.version} (${binary}): ${why}`,
    };
  }
  return native;
}

export interface SelectedTransport {
  transport: Transport;
  /** Why it was chosen, for the start-up log line. */
  reason: string;
}

/** Creates the transport `choice` asks for; throws when `uws` is asked for and cannot load. */
export function createTransport(choice: TransportChoice): SelectedTransport {
  if (choice === 'node') return { transport: new NodeTransport(), reason: 'configured' };
  const uws = loadNativeUws();
  if ('module' in uws) {
    return {
      transport: new UwsTransport(uws.module),
      reason: choice === 'uws' ? 'configured' : 'native build loaded',
    };
  }
  if (choice === 'uws') throw new Error(`transport uws: ${uws.reason}`);
  return { transport: new NodeTransport(), reason: uws.reason };
}
