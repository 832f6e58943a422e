/**
 * What the web chat app and the dashboard are made of, and how they are bundled: HTML and CSS
 * from `src/web/ui/` as they are, the TypeScript entry points (the client SDK included) bundled
 * for browsers by esbuild, in memory. Two callers: `npm run build` (scripts/build.ts), which
 * writes the result into dist/web/public/, and a gateway running from sources (tsx: tests and
 * development), which calls it on first use. The compiled gateway never loads this file, so
 * esbuild stays a devDependency (see assets.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Asset, asset } from './assets.ts';

export const UI_DIR = path.join(import.meta.dirname, 'ui');

/** URL path → source file, served as is. */
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/assets/chat.css': { file: 'chat.css', type: 'text/css; charset=utf-8' },
  '/assets/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/assets/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** Bundled entry points: URL path (without `.js`) → source file. */
const ENTRIES: Record<string, string> = {
  '/assets/chat': 'chat/main.ts',
  '/assets/dashboard': 'dashboard/main.ts',
};

/** Every asset by URL path: the static files read, the entry points bundled. */
export async function bundleWebAssets(): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  await Promise.all(
    Object.entries(STATIC).map(async ([url, { file, type }]) => {
      out.set(url, asset(await readFile(path.join(UI_DIR, file)), type));
    }),
  );
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (cause) {
    throw new Error('esbuild is not installed (npm install): the web app cannot be bundled', { cause });
  }
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(
      Object.entries(ENTRIES).map(([url, file]) => [url.slice(1), path.join(UI_DIR, file)]),
    ),
    outdir: '/',
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: 'linked',
    charset: 'utf8',
    logLevel: 'silent',
  });
  for (const file of result.outputFiles) {
    const type = file.path.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8';
    out.set(file.path, asset(Buffer.from(file.contents), type));
  }
  return out;
}
