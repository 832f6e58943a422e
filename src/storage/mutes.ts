/**
 * Mutes: a user's choice that a conversation's messages wake no device of theirs (no
 * `message.offline` webhook, the hook a push service listens to). One setting per
 * (user, conversation), a last-writer-wins register on `at`, so a replicated setting applied
 * late or twice ends the same in every region. Two implementations, each part of its `Storage`
 * (`storage.mutes`): Cassandra (`cassandra/mutes.ts`, migration 9) and LMDB (`embedded-mutes.ts`).
 * Both pass `test/mutes.contract.ts`.
 */

export interface MuteSetting {
  userId: string;
  conversationId: string;
  muted: boolean;
  /** When the user chose it (ms since the Unix epoch): the larger wins; on a tie, muted wins. */
  at: number;
}

export interface MuteStore {
  /**
   * Stores the setting unless a newer one is stored (idempotent, order-insensitive); resolves
   * with the setting that stands after.
   */
  set(setting: MuteSetting): Promise<MuteSetting>;
  isMuted(userId: string, conversationId: string): Promise<boolean>;
  /** The conversations the user has muted now. */
  listMuted(userId: string): Promise<string[]>;
}

/** Whether `next` replaces `current` in the register (`at` wins; on a tie, muted wins). */
export function supersedes(next: MuteSetting, current: MuteSetting | null | undefined): boolean {
  if (!current) return true;
  if (next.at !== current.at) return next.at > current.at;
  return next.muted && !current.muted;
}
