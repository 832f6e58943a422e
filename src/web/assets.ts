/**
 * The web chat app and the dashboard as the gateway serves them: HTML and CSS from `src/web/ui/`
 * as they are, and the TypeScript entry points (the client SDK included) bundled for browsers by
 * esbuild, in memory, the first time anything is asked for (or at startup with `warm()`). There
 * is no build step: `npm start` on a fresh clone serves the app.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const UI_DIR = path.join(import.meta.dirname, 'ui');

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

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

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
}

async function buildAll(): Promise<Map<string, Asset>> {
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

let built: Promise<Map<string, Asset>> | null = null;

/** Every asset, built once per process; a failed build is tried again on the next call. */
export function webAssets(): Promise<Map<string, Asset>> {
  if (!built) {
    built = buildAll();
    built.catch(() => {
      built = null;
    });
  }
  return built;
}

/** Builds now, so the first page load does not wait and a broken bundle shows at startup. */
export async function warmWebAssets(): Promise<number> {
  const t0 = performance.now();
  await webAssets();
  return performance.now() - t0;
}
