import type { RootDatabase } from 'lmdb';

/**
 * Waits for an LMDB write to commit and then for that commit to reach the disk. lmdb's default
 * `overlappingSync` resolves write promises at commit and syncs afterwards, so a crash just after
 * commit could otherwise lose a write the embedded store had already reported as durable.
 */
export async function durable<T>(root: RootDatabase | null | undefined, write: Promise<T>): Promise<T> {
  const result = await write;
  await root?.flushed;
  return result;
}
