import { connect, createServer } from 'node:net';

/**
 * Returns a TCP port that was free on `host` a moment ago: the OS picks it for a throwaway
 * listener, which is closed before returning. Another process could take it in between, so
 * callers should start their server soon after.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error(`freePort: unexpected address ${String(addr)}`));
        return;
      }
      srv.close((err) => (err ? reject(err) : resolve(addr.port)));
    });
  });
}

/**
 * Returns `n` distinct free ports. All listeners stay open until every port is known, so the
 * OS cannot hand the same port out twice (separate freePort() calls could).
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (srv) =>
          new Promise<number>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen({ host, port: 0, exclusive: true }, () => {
              const addr = srv.address();
              if (addr === null || typeof addr === 'string') reject(new Error('freePorts: no port'));
              else resolve(addr.port);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
  }
}

/** Resolves true once something accepts TCP connections on host:port, false on refusal. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
