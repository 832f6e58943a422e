/**
 * The `RevocationStore` of the embedded (LMDB) store: one table keyed [kind, jti or userId].
 * Expired token revocations are skipped when listed and removed when a new one is added.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { durable } from './embedded-durable.ts';
import type { Revocation, RevocationStore } from './revocations.ts';

export class EmbeddedRevocations implements RevocationStore {
  private root: RootDatabase | null = null;
  private table: Database<Revocation, Key> | null = null;

  /** Opens the table in the store's environment (`EmbeddedStorage.init`). */
  open(root: RootDatabase): void {
    this.root = root;
    this.table = root.openDB({ name: 'revocations' });
  }

  /** Forgets the environment (`EmbeddedStorage.close` closes it). */
  detach(): void {
    this.root = null;
    this.table = null;
  }

  async add(r: Revocation): Promise<void> {
    const t = this.t();
    const now = Date.now();
    await durable(
      this.root!,
      t.transaction(() => {
        if (r.kind === 'token') {
          t.put(['token', r.jti], r);
          for (const { key, value } of t.getRange({ start: ['token'], end: ['token\u0000'] })) {
            if (value.kind === 'token' && value.expiresAt <= now) t.remove(key);
          }
          return;
        }
        const prior = t.get(['user', r.userId]);
        if (prior?.kind === 'user' && prior.before >= r.before) return;
        t.put(['user', r.userId], r);
      }),
    );
  }

  async list(now: number): Promise<Revocation[]> {
    const out: Revocation[] = [];
    for (const { value } of this.t().getRange({})) {
      if (value.kind === 'token' && value.expiresAt <= now) continue;
      out.push(value);
    }
    return out;
  }

  private t(): Database<Revocation, Key> {
    if (!this.table) throw new Error('EmbeddedStorage is not open: call init() first');
    return this.table;
  }
}
