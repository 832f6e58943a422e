/**
 * The compiled production start (docs/operations.md "Starting a gateway"): dist/ is what the
 * sources compile to, its module graph needs nothing outside package.json "dependencies", and
 * `node dist/main.js` — no tsx, no esbuild, no flags — serves /healthz, the web app and its bundle.
 * test/integration/omit-dev-install.test.ts installs it without devDependencies for real.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { builtDigest, ensureBuilt, sourceDigest } from '../scripts/ensure-built.mjs';
import { eventually } from './helpers/eventually.ts';
import { freePort } from './helpers/ports.ts';
import { type ServiceProcess, startProcess } from './helpers/proc.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'dist');

/** Every import specifier of one compiled file, and whether it has an import() of a non-literal. */
function specifiers(code: string): { literal: string[]; computed: number } {
  const literal: string[] = [];
  for (const re of [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]) {
    for (const m of code.matchAll(re)) literal.push(m[1]!);
  }
  const computed = [...code.matchAll(/\bimport\((?!\s*['"])/g)].length;
  return { literal, computed };
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

describe('compiled gateway (dist/)', () => {
  before(() => {
    ensureBuilt(ROOT);
  });

  it('is built from the sources as they are', () => {
    assert.equal(builtDigest(ROOT), sourceDigest(ROOT));
  });

  it('imports only node builtins, its own files and package.json dependencies', async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const deps = new Set(Object.keys(pkg.dependencies));
    const builtins = new Set(builtinModules);
    const files = (await readdir(DIST, { recursive: true })).filter((f) => f.endsWith('.js'));
    assert.ok(files.includes('main.js'), 'dist/main.js');
    const outside: string[] = [];
    const computed: string[] = [];
    const packages = new Set<string>();
    for (const file of files) {
      const code = await readFile(path.join(DIST, file), 'utf8');
      const found = specifiers(code);
      if (found.computed > 0) computed.push(file.split(path.sep).join('/'));
      for (const s of found.literal) {
        if (s.startsWith('.')) {
          assert.ok(s.endsWith('.js'), `${file}: '${s}' was not rewritten to .js`);
          await readFile(path.join(DIST, path.dirname(file), s)).catch(() => {
            outside.push(`${file}: '${s}' is not in dist/`);
          });
        } else if (s.startsWith('node:') || builtins.has(s)) {
          // part of node
        } else if (deps.has(packageOf(s))) packages.add(packageOf(s));
        else
          outside.push(
            `${file}: '${s}' (${packageOf(s) in pkg.devDependencies ? 'a devDependency' : 'not a dependency'})`,
          );
      }
    }
    assert.deepEqual(outside, []);
    // The one computed import: src/web/assets.ts loads the esbuild bundler when it runs as .ts,
    // never from dist/ (it checks its own extension); the start below shows the bundle is read.
    assert.deepEqual(computed, ['web/assets.js']);
    // The scan saw the gateway's real dependencies, so it was reading imports at all.
    // (uWebSockets.js is not imported: its native build is resolved at start, transport/select.ts.)
    for (const dep of ['ws', 'cassandra-driver', 'nats', 'pino', 'zod']) assert.ok(packages.has(dep), dep);
  });

  describe('node dist/main.js', () => {
    let dir: string;
    let proc: ServiceProcess;
    let httpUrl: string;

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'chat-dist-'));
      const port = await freePort();
      httpUrl = `http://127.0.0.1:${port}`;
      // No NODE_OPTIONS: nothing may load tsx (or any hook) into the process but its own code.
      const { NODE_OPTIONS: _ignored, ...env } = process.env;
      proc = startProcess(process.execPath, ['dist/main.js'], {
        cwd: ROOT,
        logFile: path.join(dir, 'gateway.log'),
        env: { ...env, CHAT_PORT: String(port), CHAT_DATA_DIR: path.join(dir, 'data') },
      });
      await eventually(
        () => {
          const exited = proc.exitReason();
          if (exited) throw new Error(`node dist/main.js ${exited}:\n${proc.logTail()}`);
          assert.match(proc.logTail(), /listening/);
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    });

    after(async () => {
      await proc?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('runs as plain node: no flags, no NODE_OPTIONS, no child process (esbuild would be one)', async () => {
      const cmdline = (await readFile(`/proc/${proc.pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      assert.deepEqual(cmdline, [process.execPath, 'dist/main.js']);
      const environ = (await readFile(`/proc/${proc.pid}/environ`, 'utf8')).split('\0');
      assert.equal(
        environ.find((v) => v.startsWith('NODE_OPTIONS=')),
        undefined,
      );
      const tasks = await readdir(`/proc/${proc.pid}/task`);
      const children = await Promise.all(
        tasks.map((t) => readFile(`/proc/${proc.pid}/task/${t}/children`, 'utf8')),
      );
      assert.equal(children.join('').trim(), '');
    });

    it('serves /healthz, the web app and the bundle the build wrote', async () => {
      assert.equal((await fetch(`${httpUrl}/healthz`)).status, 200);
      const page = await fetch(`${httpUrl}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await page.text(), /<script[^>]+src="\/assets\/chat\.js"/);
      const script = await fetch(`${httpUrl}/assets/chat.js`);
      assert.equal(script.status, 200);
      assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
      const served = Buffer.from(await script.arrayBuffer());
      assert.ok(served.equals(await readFile(path.join(DIST, 'web/public/assets/chat.js'))));
      assert.equal((await fetch(`${httpUrl}/dashboard`)).status, 200);
    });
  });
});
