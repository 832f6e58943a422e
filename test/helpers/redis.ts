import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';
import { removeOnExit, startProcess } from './proc.ts';

export interface RedisHandle {
  url: string;
  port: number;
  pid: number;
  close(): Promise<void>;
}

/** Sends one inline PING and resolves if the server answers +PONG. */
function ping(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.setTimeout(1000, () => sock.destroy(new Error('PING timed out')));
    sock.once('error', reject);
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (buf) => {
      sock.destroy();
      if (buf.toString().startsWith('+PONG')) resolve();
      else reject(new Error(`unexpected PING reply: ${buf.toString().trim()}`));
    });
  });
}

/**
 * Starts a throwaway `redis-server` on a free loopback port with persistence off, and resolves
 * once it answers PING. close() stops it and removes its temp dir.
 */
export async function startRedis(opts: { port?: number } = {}): Promise<RedisHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-'));
  const keepDir = removeOnExit(dir);
  const port = opts.port ?? (await freePort());
  // `--save ''` turns RDB snapshots off; nothing a test writes should outlive it.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
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
        await ping(port);
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  } catch (err) {
    const tailText = proc.logTail();
    await close();
    throw new Error(`redis-server on port ${port} did not answer PING: ${String(err)}\n${tailText}`);
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: proc.pid, close };
}
