/**
 * Builds dist/ unless it was built from the sources as they are now. `npm start` runs this file
 * (as `prestart`) before `node dist/main.js`; the test helpers, the bench and `npm run cluster`
 * call `ensureBuilt()` before they start compiled gateways. Plain JavaScript on purpose: it runs
 * with nothing but node, also in an install without devDependencies, where a fresh dist/ must
 * start and a stale one is an error (building needs tsc, esbuild and tsx).
 *
 * The stamp is a digest of the build's inputs, not their mtimes: a checkout or a copy sets
 * mtimes freely, contents say what was compiled. Hashing every input (about 1 MB) takes tens of
 * milliseconds, which is what a fresh `npm start` pays.
 */

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repo root (this file is in scripts/). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Directory the build writes, relative to the repo root. */
export const DIST = 'dist';
/** File in dist/ holding the digest of the inputs it was built from. */
export const STAMP_FILE = 'build-stamp.json';

/** What the build reads: every file under these, relative to the repo root. */
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.ts'];

/**
 * Every input file below `root`, as sorted repo-relative paths with `/` separators.
 * @param {string} root
 * @returns {string[]}
 */
function inputFiles(root) {
  const files = [];
  for (const input of INPUTS) {
    const full = join(root, input);
    if (!existsSync(full)) continue;
    if (!statSync(full).isDirectory()) {
      files.push(input);
      continue;
    }
    for (const e of readdirSync(full, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) files.push(relative(root, join(e.parentPath, e.name)));
    }
  }
  return files.map((f) => f.split(sep).join('/')).sort();
}

/**
 * Digest of the build's inputs under `root`, or null when there are no sources to compare
 * (a deployment that ships dist/ without src/).
 * @param {string} root
 * @returns {string | null}
 */
export function sourceDigest(root) {
  if (!existsSync(join(root, 'src'))) return null;
  const hash = createHash('sha256');
  for (const file of inputFiles(root)) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(root, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

/**
 * The digest dist/ was built from, or null when there is no (complete) build.
 * @param {string} root
 * @returns {string | null}
 */
export function builtDigest(root) {
  try {
    const stamp = JSON.parse(readFileSync(join(root, DIST, STAMP_FILE), 'utf8'));
    return typeof stamp.digest === 'string' ? stamp.digest : null;
  } catch {
    return null;
  }
}

let ensured = false;

/**
 * Builds dist/ (`npm run build`'s script, in a child process) when its stamp does not match the
 * sources; does nothing when it does, or when there are no sources (dist/ shipped alone). Checks
 * once per process: a long run (the fault suite, a bench) keeps the build it started with.
 * Throws when a build is due but cannot run or fails.
 * @param {string} [root]
 * @returns {{ built: boolean, ms: number }}
 */
export function ensureBuilt(root = ROOT) {
  const t0 = performance.now();
  if (ensured) return { built: false, ms: 0 };
  const digest = sourceDigest(root);
  const have = builtDigest(root);
  if (digest === null) {
    if (have === null) throw new Error(`no sources and no build in ${root}`);
  } else if (digest !== have) {
    let tsx;
    try {
      tsx = import.meta.resolve('tsx');
    } catch {
      throw new Error(
        `${DIST}/ is ${have === null ? 'missing' : 'older than the sources'} and the build tools are not ` +
          'installed (an install without devDependencies): build where they are (npm install && npm run build)',
      );
    }
    const res = spawnSync(process.execPath, ['--import', tsx, join(root, 'scripts/build.ts')], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (res.status !== 0)
      throw new Error(`npm run build failed (${res.error?.message ?? `exit ${res.status ?? res.signal}`})`);
    ensured = true;
    return { built: true, ms: performance.now() - t0 };
  }
  ensured = true;
  return { built: false, ms: performance.now() - t0 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    ensureBuilt();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
