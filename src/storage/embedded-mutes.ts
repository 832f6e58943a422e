/**
 * The `MuteStore` of the embedded (LMDB) store, in the same environment as its messages: one
 * table keyed [userId, conversationId], so a user's mutes are one range. Writes resolve after
 * LMDB committed and flushed them.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { durable } from './embedded-durable.ts';
import { MAX_KEY } from './embedded-keys.ts';
import { type MuteSetting, type MuteStore, supersedes } from './mutes.ts';

export class EmbeddedMutes implements MuteStore {
  private root: RootDatabase | null = null;
  private table: Database<MuteSetting, Key> | null = null;

  /** Opens the table in the store's environment (`EmbeddedStorage.init`). */
  open(root: RootDatabase): void {
    this.root = root;
    this.table = root.openDB({ name: 'mutes' });
  }

  /** Forgets the environment (`EmbeddedStorage.close` closes it). */
  detach(): void {
    this.root = null;
    this.table = null;
  }

  async set(setting: MuteSetting): Promise<MuteSetting> {
    const t = this.t();
    const key = [setting.userId, setting.conversationId];
    return durable(
      this.root,
      t.transaction(() => {
        const current = t.get(key);
        if (!supersedes(setting, current)) return current!;
        t.put(key, { ...setting });
        return setting;
      }),
    );
  }

  async isMuted(userId: string, conversationId: string): Promise<boolean> {
    return this.t().get([userId, conversationId])?.muted === true;
  }

  async listMuted(userId: string): Promise<string[]> {
    const out: string[] = [];
    for (const { value } of this.t().getRange({ start: [userId], end: [userId, MAX_KEY] })) {
      if (value.muted) out.push(value.conversationId);
    }
    return out;
  }

  private t(): Database<MuteSetting, Key> {
    if (!this.table) throw new Error('embedded storage not initialised');
    return this.table;
  }
}
