/**
 * An install without devDependencies starts (issue 12, item 5). The repo as a clone has it, plus
 * the dist/ that `npm run build` made here, is copied to a temp dir; `npm ci --omit=dev
 * --offline` installs package.json "dependencies" there from npm's cache (filled by this repo's
 * own install; nothing is fetched); then `npm start` — whose prestart finds dist/ fresh and
 * builds nothing — must serve /healthz and the web app. tsx, esbuild and typescript are not in
 * that node_modules (checked), no node_modules is above it and NODE_PATH is unset, so the gateway
 * cannot be using them. With a source edited after the build, `npm start` there must refuse.
 *
 * Here and not in the unit set: it runs npm (20 s or so) and needs its cache.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ensureBuilt } from '../../scripts/ensure-built.mjs';
import { eventually } from '../helpers/eventually.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Top-level entries a clone does not have (or that are this checkout's state), not copied. */
const NOT_COPIED = [/^node_modules$/, /^\.git$/, /^\.state$/, /^data$/, /^dist\.(tmp|old)-/];
const BUILD_TOOLS = ['tsx', 'esbuild', 'typescript', '@biomejs/biome'];

/** The environment without anything that could point node at other modules. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _o, NODE_PATH: _p, ...env } = process.env;
  return { ...env, ...extra };
}

describe('an install without devDependencies', () => {
  let dir: string;
  let app: string;

  before(async () => {
    ensureBuilt(ROOT);
    dir = await mkdtemp(path.join(tmpdir(), 'chat-omit-dev-'));
    app = path.join(dir, 'app');
    await cp(ROOT, app, {
      recursive: true,
      filter: (src) => {
        const top = path.relative(ROOT, src).split(path.sep)[0]!;
        return !NOT_COPIED.some((re) => re.test(top));
      },
    });
    const npm = (args: string[]) =>
      promisify(execFile)('npm', args, { cwd: app, env: cleanEnv({}), timeout: 240_000 });
    // As .ci/run: npm 11 may reject this lockfile in `npm ci` where `npm install` accepts it.
    await npm(['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund']).catch(() =>
      npm(['install', '--omit=dev', '--offline', '--no-audit', '--no-fund']),
    );
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('has every dependency and none of the build tools', async () => {
    const pkg = JSON.parse(await readFile(path.join(app, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies)) {
      assert.ok(existsSync(path.join(app, 'node_modules', dep)), `${dep} installed`);
    }
    for (const tool of BUILD_TOOLS) assert.ok(!existsSync(path.join(app, 'node_modules', tool)), tool);
    for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
      assert.ok(!existsSync(path.join(d, 'node_modules')), `no ${d}/node_modules to resolve from`);
    }
  });

  it('starts with npm start and serves /healthz and the web app', async () => {
    const port = await freePort();
    const httpUrl = `http://127.0.0.1:${port}`;
    let out = '';
    // Its own process group: npm, the shell it runs the script in and node all get the signal.
    const child = spawn('npm', ['start'], {
      cwd: app,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv({ CHAT_PORT: String(port), CHAT_DATA_DIR: path.join(dir, 'data') }),
    });
    const group = child.pid!;
    const onExit = () => process.kill(-group, 'SIGKILL');
    process.once('exit', onExit);
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.stderr.on('data', (d) => {
      out += String(d);
    });
    try {
      await eventually(
        () => {
          if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${out}`);
          assert.match(out, /listening/);
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      assert.doesNotMatch(out, /build: dist\//, 'prestart built nothing');
      assert.equal((await fetch(`${httpUrl}/healthz`)).status, 200);
      const page = await fetch(`${httpUrl}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /src="\/assets\/chat\.js"/);
      assert.equal((await fetch(`${httpUrl}/assets/chat.js`)).status, 200);
    } finally {
      process.kill(-group, 'SIGTERM');
      await eventually(
        () => {
          try {
            process.kill(-group, 0);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
            throw err;
          }
          throw new Error(`process group ${group} still running`);
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      process.off('exit', onExit);
    }
  });

  it('refuses to start a build older than its sources, having no tools to rebuild it', async () => {
    await appendFile(path.join(app, 'src/main.ts'), '\n// edited after the build\n');
    const r = spawnSync('npm', ['start'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 60_000,
      env: cleanEnv({ CHAT_PORT: String(await freePort()), CHAT_DATA_DIR: path.join(dir, 'data') }),
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /older than the sources and the build tools are not installed/);
    assert.doesNotMatch(r.stdout, /listening/);
  });
});
