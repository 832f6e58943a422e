import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

/**
 * Ports for the services tests start are taken from below the kernel's ephemeral range
 * (`net.ipv4.ip_local_port_range`, 32768–60999 by default). A port the OS picked for a
 * throwaway listener (port 0) comes from that range, and so do the local ports of outgoing
 * connections: between our listener closing and a slow server (a Cassandra JVM takes seconds)
 * binding it, any client connection on the machine — NATS routes between clusters, a driver —
 * could take it as its local port, and the server then fails with "Address already in use". The
 * range below the ephemeral one is never handed out that way, so only another process choosing a
 * port the same way can collide, and candidates are drawn at random to make that unlikely.
 */
const LOW_PORTS_FROM = 10_000;

function ephemeralStart(): number {
  try {
    const [lo] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(lo);
    return Number.isInteger(n) && n > 0 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

/** Listens on `port` (0: the OS picks), resolving with the server, or null if it is taken. */
function tryListen(host: string, port: number): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (port !== 0 && (err.code === 'EADDRINUSE' || err.code === 'EACCES')) resolve(null);
      else reject(err);
    });
    srv.listen({ host, port, exclusive: true }, () => resolve(srv));
  });
}

function portOf(srv: Server): number {
  const addr = srv.address();
  if (addr === null || typeof addr === 'string') throw new Error(`ports: unexpected address ${String(addr)}`);
  return addr.port;
}

/** A listener on a free port below the ephemeral range (or an OS-picked one if there is none). */
async function holdPort(host: string, taken: ReadonlySet<number>): Promise<Server> {
  const top = ephemeralStart();
  if (top - LOW_PORTS_FROM >= 1000) {
    for (let i = 0; i < 200; i++) {
      const port = LOW_PORTS_FROM + Math.floor(Math.random() * (top - LOW_PORTS_FROM));
      if (taken.has(port)) continue;
      const srv = await tryListen(host, port);
      if (srv) return srv;
    }
  }
  const srv = await tryListen(host, 0);
  if (!srv) throw new Error('ports: no free port');
  return srv;
}

/**
 * Returns a TCP port that was free on `host` a moment ago (see above for where it comes from).
 * Another process could take it in between, so callers should start their server soon after.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port!;
}

/**
 * Returns `n` distinct free ports. All listeners stay open until every port is known, so the
 * same port cannot be handed out twice.
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const taken = new Set<number>();
    for (let i = 0; i < n; i++) {
      const srv = await holdPort(host, taken);
      servers.push(srv);
      taken.add(portOf(srv));
    }
    return servers.map(portOf);
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
