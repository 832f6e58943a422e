/**
 * The container image (deploy/Containerfile, built by scripts/image.sh with buildah): its config
 * (non-root user, entrypoint, exposed port), what its filesystem holds, and the gateway running
 * in it: /healthz, /readyz and the web app answer, and SIGTERM drains it to a clean exit.
 *
 * Running needs a container runtime. `buildah run --isolation chroot` is used: it needs no
 * cgroup setup (crun refuses this machine's hybrid cgroup v1/v2 layout), only root or a user
 * namespace. Whatever cannot be done here is a visible skip with the reason printed, never a
 * pass: no buildah on PATH (`scripts/services.sh install` installs it), or buildah unable to
 * run a command in any container.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { eventually } from '../helpers/eventually.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TAG = `localhost/globalchat:test-${process.pid}`;
const APP_UID = 10001;
const exec = promisify(execFile);

const hasBuildah = spawnSync('buildah', ['--version']).status === 0;
const noBuildah = hasBuildah ? false : 'buildah is not installed (scripts/services.sh install installs it)';
if (noBuildah) console.log(`# container image: skipped: ${noBuildah}`);

const buildah = async (...args: string[]) =>
  (await exec('buildah', args, { maxBuffer: 16 << 20, timeout: 120_000 })).stdout.trim();

interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  WorkingDir?: string;
}

/** The pids of every process below `pid` (from /proc's ppid fields). */
function descendants(pid: number): { pid: number; comm: string }[] {
  const children = new Map<number, { pid: number; comm: string }[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split at the last ')'.
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const ppid = Number(text.slice(close + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push({ pid: Number(name), comm });
    children.set(ppid, list);
  }
  const out: { pid: number; comm: string }[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

describe('container image', () => {
  let imageId = '';
  let container = '';
  let config: ImageConfig = {};

  before(async () => {
    if (noBuildah) return;
    const { stdout } = await exec('bash', [path.join(ROOT, 'scripts/image.sh'), 'build', TAG], {
      cwd: ROOT,
      timeout: 600_000,
      maxBuffer: 16 << 20,
    });
    imageId = stdout.trim().split('\n').at(-1) ?? '';
    assert.match(imageId, /^[0-9a-f]{12,}$/);
    const inspect = JSON.parse(await buildah('inspect', '--type', 'image', TAG)) as {
      OCIv1: { config: ImageConfig };
    };
    config = inspect.OCIv1.config;
    container = await buildah('from', '--pull-never', TAG);
  });

  after(async () => {
    if (container) await buildah('rm', container).catch(() => {});
    if (imageId) await buildah('rmi', TAG).catch(() => {});
  });

  it('runs node on the compiled gateway as a non-root user, on port 8080', { skip: noBuildah }, () => {
    assert.equal(config.User, `${APP_UID}:${APP_UID}`);
    assert.deepEqual(config.Entrypoint, ['/usr/local/bin/node', '/app/dist/main.js']);
    assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['8080/tcp']);
    assert.equal(config.WorkingDir, '/app');
    const env = new Set(config.Env);
    for (const v of ['CHAT_HOST=0.0.0.0', 'CHAT_PORT=8080', 'CHAT_DATA_DIR=/data', 'NODE_ENV=production'])
      assert.ok(env.has(v), v);
  });

  it('holds node, dist/, the dependencies and no build tools', { skip: noBuildah }, async () => {
    const mnt = await buildah('mount', container);
    try {
      const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      };
      const has = (p: string) => access(path.join(mnt, p));
      await has('usr/local/bin/node');
      await has('app/dist/main.js');
      await has('app/dist/build-stamp.json');
      await has('app/dist/web/public/manifest.json');
      await has('app/package.json');
      for (const dep of Object.keys(pkg.dependencies)) await has(`app/node_modules/${dep}/package.json`);
      for (const tool of ['typescript', 'tsx', 'esbuild', '@biomejs/biome', 'kubernetes-models']) {
        await assert.rejects(has(`app/node_modules/${tool}`), `${tool} is not in the image`);
      }
      assert.match(
        await readFile(path.join(mnt, 'etc/passwd'), 'utf8'),
        new RegExp(`^chat:x:${APP_UID}:`, 'm'),
      );
      assert.equal((await stat(path.join(mnt, 'data'))).uid, APP_UID, '/data belongs to the runtime user');
      assert.equal((await stat(path.join(mnt, 'app/dist/main.js'))).uid, 0, 'the app is not the user’s');
    } finally {
      await buildah('umount', container);
    }
  });

  it('serves /healthz, /readyz and the web app, and drains on SIGTERM', { skip: noBuildah }, async (t) => {
    // Can buildah run anything at all here? If not, that is this machine, not the image.
    const probe = spawnSync(
      'buildah',
      ['run', '--isolation', 'chroot', container, '/usr/local/bin/node', '-e', 'process.exit(0)'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (
      probe.status !== 0 &&
      /error running container|while running runtime|unshare|permitted/i.test(probe.stderr)
    ) {
      const reason = `buildah cannot run a container here: ${probe.stderr.trim().split('\n')[0]}`;
      console.log(`# container image: ${reason}`);
      t.skip(reason);
      return;
    }
    assert.equal(probe.status, 0, `node in the image: ${probe.stderr}`);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let out = '';
    // The image's entrypoint as it is; only the port differs (host network, the port may be taken).
    const child: ChildProcess = spawn(
      'buildah',
      [
        'run',
        '--isolation',
        'chroot',
        '--network',
        'host',
        '-e',
        `CHAT_PORT=${port}`,
        container,
        ...(config.Entrypoint ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d: Buffer) => (out += d));
    child.stderr?.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await eventually(
        async () => {
          const res = await fetch(`${base}/healthz`);
          assert.equal(res.status, 200);
          assert.equal(((await res.json()) as { status: string }).status, 'ok');
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      ).catch((err: unknown) => {
        throw new Error(`no /healthz from the image; its output:\n${out}`, { cause: err });
      });
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      assert.doesNotMatch(out, /web app: loading failed/);

      // buildah run kills its command on SIGTERM rather than passing the signal on; a runtime
      // signals the entrypoint itself, so the gateway's node process gets it here directly.
      const node = descendants(child.pid ?? -1).find((p) => p.comm === 'node');
      assert.ok(node, 'the gateway’s node process under buildah run');
      process.kill(node.pid, 'SIGTERM');
      const code = await Promise.race([
        exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000)),
      ]);
      assert.equal(code, 0, `exit after SIGTERM; output:\n${out}`);
      assert.match(out, /"msg":"stopped"/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
