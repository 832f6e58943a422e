import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';
import { removeOnExit, startProcess } from './proc.ts';
import type { TestCerts } from './tls-certs.ts';

export interface RedisHandle {
  url: string;
  port: number;
  pid: number;
  close(): Promise<void>;
}

export interface RedisSecurity {
  /** TLS only (`--port 0 --tls-port`), with these certificates; the url is `rediss://`. */
  tls?: TestCerts;
  /** Require a client certificate signed by the test CA (`tls-auth-clients yes`). Default true. */
  requireClientCert?: boolean;
  /** The `default` user's password (`requirepass`). */
  password?: string;
  /** One more ACL user with every permission. */
  aclUser?: { name: string; password: string };
}

/** Sends one inline PING; resolves if the server answers (+PONG, or -NOAUTH: up, wants a password). */
function ping(port: number, certs?: TestCerts): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock: Socket = certs
      ? tlsConnect({
          host: '127.0.0.1',
          port,
          ca: readPem(certs.ca),
          cert: readPem(certs.clientCert),
          key: readPem(certs.clientKey),
        })
      : connect({ host: '127.0.0.1', port });
    sock.setTimeout(1000, () => sock.destroy(new Error('PING timed out')));
    sock.once('error', reject);
    sock.once(certs ? 'secureConnect' : 'connect', () => sock.write('PING\r\n'));
    sock.once('data', (buf) => {
      sock.destroy();
      const reply = buf.toString();
      if (reply.startsWith('+PONG') || reply.startsWith('-NOAUTH')) resolve();
      else reject(new Error(`unexpected PING reply: ${reply.trim()}`));
    });
  });
}

function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}

/** redis-server arguments for `sec` (TLS files, passwords, ACL user). */
function securityArgs(port: number, sec: RedisSecurity): string[] {
  const args: string[] = [];
  if (sec.tls) {
    args.push('--port', '0', '--tls-port', String(port));
    args.push('--tls-cert-file', sec.tls.serverCert, '--tls-key-file', sec.tls.serverKey);
    args.push('--tls-ca-cert-file', sec.tls.ca);
    args.push('--tls-auth-clients', sec.requireClientCert === false ? 'no' : 'yes');
    // A Sentinel or replica talking to this server uses TLS too, with the same certificates.
    args.push('--tls-replication', 'yes');
  } else {
    args.push('--port', String(port));
  }
  if (sec.password !== undefined) args.push('--requirepass', sec.password);
  if (sec.aclUser)
    args.push('--user', sec.aclUser.name, 'on', `>${sec.aclUser.password}`, '~*', '&*', '+@all');
  return args;
}

/**
 * Starts a throwaway `redis-server` on a free loopback port with persistence off, and resolves
 * once it answers PING. close() stops it and removes its temp dir. `sec` makes it require TLS,
 * passwords or an ACL user (docs/operations.md, "Credentials and TLS").
 */
export async function startRedis(opts: { port?: number } & RedisSecurity = {}): Promise<RedisHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-'));
  const keepDir = removeOnExit(dir);
  const port = opts.port ?? (await freePort());
  // `--save ''` turns RDB snapshots off; nothing a test writes should outlive it.
  const args = [...securityArgs(port, opts), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const proc = startProcess('redis-server', [...args, '--dir', dir], {
    cwd: dir,
    logFile: join(dir, 'redis.log'),
  });
  const close = async () => {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
    keepDir();
  };
  try {
    await eventually(
      async () => {
        const exited = proc.exitReason();
        if (exited) throw new Error(`redis-server ${exited}:\n${proc.logTail()}`);
        await ping(port, opts.tls);
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  } catch (err) {
    const tailText = proc.logTail();
    await close();
    throw new Error(`redis-server on port ${port} did not answer PING: ${String(err)}\n${tailText}`);
  }
  const scheme = opts.tls ? 'rediss' : 'redis';
  return { url: `${scheme}://127.0.0.1:${port}`, port, pid: proc.pid, close };
}

export interface SentinelHandle {
  host: string;
  port: number;
  /** The primary's name the Sentinel monitors. */
  name: string;
  close(): Promise<void>;
}

/**
 * Starts a Redis Sentinel (`redis-server <conf> --sentinel`) monitoring `primary` under `name`,
 * authenticating to it as `auth` and requiring `password` of its own clients. Resolves once it
 * answers `SENTINEL get-master-addr-by-name` with the primary's address.
 */
export async function startSentinel(opts: {
  primary: RedisHandle;
  name: string;
  auth?: { user?: string; password: string };
  password?: string;
  /** The primary speaks TLS only: the Sentinel connects to it with these certificates. */
  tls?: TestCerts;
  /** The Sentinel's own port speaks TLS only too, requiring a client certificate (needs `tls`). */
  tlsPort?: boolean;
}): Promise<SentinelHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-'));
  const keepDir = removeOnExit(dir);
  const port = await freePort();
  const lines = [
    opts.tlsPort ? `port 0\ntls-port ${port}` : `port ${port}`,
    'bind 127.0.0.1',
    `dir ${JSON.stringify(dir)}`,
    `sentinel monitor ${opts.name} 127.0.0.1 ${opts.primary.port} 1`,
  ];
  if (opts.auth?.user) lines.push(`sentinel auth-user ${opts.name} ${opts.auth.user}`);
  if (opts.auth) lines.push(`sentinel auth-pass ${opts.name} ${opts.auth.password}`);
  if (opts.password !== undefined) lines.push(`requirepass ${opts.password}`);
  if (opts.tls && opts.tlsPort) {
    // Serves TLS with the server certificate; connects to the primary with the client one.
    lines.push(`tls-cert-file ${opts.tls.serverCert}`, `tls-key-file ${opts.tls.serverKey}`);
    lines.push(`tls-client-cert-file ${opts.tls.clientCert}`, `tls-client-key-file ${opts.tls.clientKey}`);
    lines.push(`tls-ca-cert-file ${opts.tls.ca}`, 'tls-auth-clients yes', 'tls-replication yes');
  } else if (opts.tls) {
    // TLS towards the primary only; this Sentinel's own port stays plain.
    lines.push(`tls-cert-file ${opts.tls.clientCert}`, `tls-key-file ${opts.tls.clientKey}`);
    lines.push(`tls-ca-cert-file ${opts.tls.ca}`, 'tls-replication yes');
  }
  // Sentinel rewrites its config file, so it must be its own writable file.
  const conf = join(dir, 'sentinel.conf');
  await writeFile(conf, `${lines.join('\n')}\n`);
  const proc = startProcess('redis-server', [conf, '--sentinel'], {
    cwd: dir,
    logFile: join(dir, 'sentinel.log'),
  });
  const close = async () => {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
    keepDir();
  };
  try {
    await eventually(
      async () => {
        const exited = proc.exitReason();
        if (exited) throw new Error(`sentinel ${exited}:\n${proc.logTail()}`);
        await ping(port, opts.tlsPort ? opts.tls : undefined);
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  } catch (err) {
    const tailText = proc.logTail();
    await close();
    throw new Error(`sentinel on port ${port} did not start: ${String(err)}\n${tailText}`);
  }
  return { host: '127.0.0.1', port, name: opts.name, close };
}
