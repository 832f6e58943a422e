/**
 * One LMDB root per data directory in this process. lmdb-js shares the native environment
 * between opens of one path, but each root keeps its own read snapshot, renewed only on a later
 * timer tick or after its own writes: a second root on the same directory could read, for a few
 * event-loop turns, what was there before the first one's commit. Gateways in one process on one
 * directory (several workers, the tests' two-gateway setups) must see each other's writes at once
 * — a member just added, a role just given — so they share the root, counted, and the last
 * `release` closes it.
 */
import { resolve } from 'node:path';
import { open, type RootDatabase } from 'lmdb';

const roots = new Map<string, { root: RootDatabase; users: number }>();

/** The directory's root, opened on first use. */
export function acquireRoot(dataDir: string): RootDatabase {
  const key = resolve(dataDir);
  const held = roots.get(key);
  if (held) {
    held.users++;
    return held.root;
  }
  // noSubdir: false — lmdb otherwise takes a path whose last component has a dot
  // (`mktemp -d` makes `/tmp/tmp.X`) for a file name and fails with "Is a directory".
  // maxDbs: room for every table of the store and its parts, and for more to come.
  const root = open({ path: dataDir, maxDbs: 32, noSubdir: false });
  roots.set(key, { root, users: 1 });
  return root;
}

/** Gives the root back; the last user's release flushes and closes it. */
export async function releaseRoot(dataDir: string): Promise<void> {
  const key = resolve(dataDir);
  const held = roots.get(key);
  if (!held) return;
  held.users--;
  if (held.users > 0) {
    await held.root.flushed;
    return;
  }
  roots.delete(key);
  await held.root.flushed;
  await held.root.close();
}
