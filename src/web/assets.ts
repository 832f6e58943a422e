/**
 * The web chat app and the dashboard as the gateway serves them (what they are made of:
 * bundle.ts). Where they come from depends on what is running:
 *
 * - the compiled gateway (`node dist/main.js`, production): the files `npm run build` wrote
 *   into dist/web/public/, listed in its manifest, read once;
 * - the sources through tsx (tests, scripts, `npx tsx src/main.ts`): bundled in memory on first
 *   use, so an edit to src/web/ui shows without a build.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** One entry of dist/web/public/manifest.json: URL path → file (relative to it) and type. */
export interface ManifestEntry {
  url: string;
  file: string;
  type: string;
}

/** Directory beside the compiled assets module that the build fills; file name of its index. */
export const PUBLIC_DIR = 'public';
export const MANIFEST = 'manifest.json';

export function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
}

/**
 * The one place that chooses. This module is `.js` only when tsc compiled it into dist/, and the
 * build writes the bundle beside it, so reading that is both possible and required: production
 * has no esbuild (a devDependency) and must not spend a second of CPU bundling at startup. From
 * `.ts` (tsx) there is no prebuilt bundle to trust — the sources may have changed since any
 * build — so it bundles them. The bundler is imported by a computed file URL: tsc then does not
 * follow it into the build (its runtime rewrite of import paths touches only relative ones), and
 * dist/ holds no reference to esbuild at all.
 */
const COMPILED = import.meta.url.endsWith('.js');

async function loadBuilt(): Promise<Map<string, Asset>> {
  const dir = path.join(import.meta.dirname, PUBLIC_DIR);
  let entries: ManifestEntry[];
  try {
    entries = JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as ManifestEntry[];
  } catch (cause) {
    throw new Error(`the web app was not built into ${dir} (npm run build)`, { cause });
  }
  const out = new Map<string, Asset>();
  await Promise.all(
    entries.map(async ({ url, file, type }) => {
      out.set(url, asset(await readFile(path.join(dir, file)), type));
    }),
  );
  return out;
}

/** The part of bundle.ts this module uses, checked when the import resolves. */
interface Bundler {
  bundleWebAssets(): Promise<Map<string, Asset>>;
}

async function bundleFromSources(): Promise<Map<string, Asset>> {
  const mod: Partial<Bundler> = await import(new URL('./bundle.ts', import.meta.url).href);
  if (typeof mod.bundleWebAssets !== 'function') throw new Error('src/web/bundle.ts has no bundleWebAssets');
  return mod.bundleWebAssets();
}

let built: Promise<Map<string, Asset>> | null = null;

/** Every asset, loaded once per process; a failed load is tried again on the next call. */
export function webAssets(): Promise<Map<string, Asset>> {
  if (!built) {
    built = COMPILED ? loadBuilt() : bundleFromSources();
    built.catch(() => {
      built = null;
    });
  }
  return built;
}

/** Loads now, so the first page load does not wait and a broken bundle shows at startup. */
export async function warmWebAssets(): Promise<number> {
  const t0 = performance.now();
  await webAssets();
  return performance.now() - t0;
}
