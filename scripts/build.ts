/**
 * `npm run build`: the compiled gateway in dist/, what production runs with plain `node
 * dist/main.js` (docs/operations.md "Starting a gateway").
 *
 * - tsc (tsconfig.build.json) compiles src/ file by file into dist/, rewriting the `.ts` import
 *   specifiers to `.js`, with a `.js.map` beside each file (read only if node runs with
 *   --enable-source-maps, which production does not);
 * - the web chat app and the dashboard (src/web/bundle.ts) go into dist/web/public/ with a
 *   manifest, where the compiled src/web/assets.ts reads them;
 * - dist/build-stamp.json records the digest of the sources it was built from
 *   (scripts/ensure-built.mjs compares it to decide whether `npm start` builds first).
 *
 * Everything is written to a temp directory beside dist/ and swapped in at the end, so a gateway
 * starting meanwhile finds the old build or the new one, never half of one.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MANIFEST, type ManifestEntry, PUBLIC_DIR } from '../src/web/assets.ts';
import { bundleWebAssets } from '../src/web/bundle.ts';
import { DIST, ROOT, STAMP_FILE, sourceDigest } from './ensure-built.mjs';

const t0 = performance.now();
// Before compiling: should a source change during the build, the stamp is the older digest and
// the next start builds again.
const digest = sourceDigest(ROOT);
const dist = join(ROOT, DIST);
const tmp = join(ROOT, `${DIST}.tmp-${process.pid}`);
await rm(tmp, { recursive: true, force: true });

try {
  const tsc = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', tmp],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (tsc.status !== 0) throw new Error(`tsc failed (exit ${tsc.status ?? tsc.signal})`);
  const tscMs = performance.now() - t0;

  const publicDir = join(tmp, 'web', PUBLIC_DIR);
  const manifest: ManifestEntry[] = [];
  for (const [url, a] of await bundleWebAssets()) {
    // `/` and `/dashboard` are pages; everything else already has a file name.
    const file = url === '/' ? 'index.html' : url === '/dashboard' ? 'dashboard.html' : url.slice(1);
    await mkdir(dirname(join(publicDir, file)), { recursive: true });
    await writeFile(join(publicDir, file), a.body);
    manifest.push({ url, file, type: a.type });
  }
  await writeFile(join(publicDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(
    join(tmp, STAMP_FILE),
    `${JSON.stringify({ digest, builtAt: new Date().toISOString() })}\n`,
  );

  const old = join(ROOT, `${DIST}.old-${process.pid}`);
  await rename(dist, old).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(tmp, dist);
  await rm(old, { recursive: true, force: true });
  const ms = performance.now() - t0;
  process.stdout.write(
    `build: ${DIST}/ in ${ms.toFixed(0)} ms (tsc ${tscMs.toFixed(0)} ms, web app ${(ms - tscMs).toFixed(0)} ms)\n`,
  );
} catch (err) {
  await rm(tmp, { recursive: true, force: true });
  process.stderr.write(`build failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
