/**
 * Backfill and reconciliation of a store migration: walks every conversation of the old store
 * in batches (`retention.listConversations`, the same walk the retention sweeper makes), copies
 * each batch to the new store (`copy.ts`), then verifies the batch by comparing both stores row
 * by row. Then the users met on the way (members of some conversation) are copied and verified
 * the same way (offline queue, mutes, blocks, and the unread state they see), and last the
 * region's revocations, home-move records and erasure reports.
 *
 * Runs in the `dual-write` phase, so a write that races with the copy lands on both stores: the
 * copy (idempotent upserts) cannot undo it. A difference found right after a batch is often a
 * write in flight (stored on the old store, its mirror not yet on the new): it is read again after
 * `settleMs`, and only one that persists is repaired (copied again from the old store, extras
 * trimmed) and checked once more. What still differs is in the report's `remaining`: an empty
 * `remaining` is the condition for going on to `read-new`.
 *
 * `reconcile` is the same walk without the first copy: compare, repair what differs, report.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, silentLogger } from '../../util/log.ts';
import type { Storage } from '../types.ts';
import { canonical, sortedCanonical } from './compare.ts';
import {
  type CopyCounts,
  compareConversation,
  compareUser,
  copyConversation,
  copyUser,
  type Difference,
  trimExtras,
  zeroCounts,
} from './copy.ts';
import type { BackfillProgress } from './phase.ts';

export interface MigrationReport {
  mode: 'backfill' | 'reconcile' | 'verify';
  startedAt: number;
  finishedAt: number;
  conversations: number;
  users: number;
  batches: number;
  counts: CopyCounts;
  /** Differences found by a batch's verification and repaired (copied again and found equal). */
  repaired: Difference[];
  /** Differences still there after repair: must be empty before `read-new`. */
  remaining: Difference[];
}

export interface BackfillOptions {
  /** Conversations per batch (one `listConversations` page, verified together). */
  batchSize?: number;
  /** How long a difference is given to settle (a mirrored write in flight) before it is repaired. */
  settleMs?: number;
  /** False: compare and report only (`verify`). Default true. */
  repair?: boolean;
  log?: Logger;
  /** Called after each batch (the command writes it into the migration state for /metrics). */
  progress?: (p: BackfillProgress) => void | Promise<void>;
}

const DEFAULT_BATCH = 100;
const DEFAULT_SETTLE_MS = 500;

/** Copies every conversation and user of `from` into `to`, verifying batch by batch. */
export function backfill(from: Storage, to: Storage, opts: BackfillOptions = {}): Promise<MigrationReport> {
  return walk('backfill', from, to, opts);
}

/** Compares both stores everywhere, repairs what differs (unless `repair: false`), reports. */
export function reconcile(from: Storage, to: Storage, opts: BackfillOptions = {}): Promise<MigrationReport> {
  return walk(opts.repair === false ? 'verify' : 'reconcile', from, to, opts);
}

async function walk(
  mode: MigrationReport['mode'],
  from: Storage,
  to: Storage,
  opts: BackfillOptions,
): Promise<MigrationReport> {
  const log = opts.log ?? silentLogger;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  const startedAt = Date.now();
  const counts = zeroCounts();
  const repaired: Difference[] = [];
  const remaining: Difference[] = [];
  const users = new Set<string>();
  let conversations = 0;
  let batches = 0;
  let repairedBatches = 0;

  /**
   * Settles, repairs and re-checks one batch's differences. A difference counts only when a
   * second look after `settleMs` finds the very same one (a write in flight, or a queue or count
   * moving under traffic, looks different the second time). What persists is repaired and
   * checked once more; what still differs on the same rows goes to `remaining`.
   */
  const settle = async (found: Difference[], recheck: () => Promise<Difference[]>): Promise<void> => {
    if (found.length === 0) return;
    await sleep(settleMs);
    const first = new Set(found.map(same));
    const persisting = (await recheck()).filter((d) => first.has(same(d)));
    if (persisting.length === 0) return;
    if (mode === 'verify') {
      remaining.push(...persisting);
      return;
    }
    repairedBatches++;
    await repair(from, to, persisting);
    await sleep(settleMs);
    const rows = new Set(persisting.map(row));
    const after = (await recheck()).filter((d) => rows.has(row(d)));
    const left = new Set(after.map(row));
    for (const d of persisting) if (!left.has(row(d))) repaired.push(d);
    remaining.push(...after);
    if (after.length > 0)
      log.warn({ differences: after.length }, 'store migration: differences remain after repair');
  };

  const report = async (finishedAt: number | null) =>
    opts.progress?.({ conversations, messages: counts.messages, repairedBatches, startedAt, finishedAt });

  let after: string | null = null;
  do {
    const page = await from.retention.listConversations(after, batchSize);
    after = page.next;
    const ids = page.conversationIds;
    for (const id of ids) {
      if (mode === 'backfill') {
        for (const u of await copyConversation(from, to, id, counts)) users.add(u);
      } else {
        for (const u of await from.listMembers(id)) users.add(u);
      }
    }
    const check = async () => (await Promise.all(ids.map((id) => compareConversation(from, to, id)))).flat();
    await settle(await check(), check);
    conversations += ids.length;
    batches++;
    await report(null);
    log.info({ conversations, messages: counts.messages }, 'store migration: batch verified');
  } while (after !== null);

  const userIds = [...users].sort();
  for (let i = 0; i < userIds.length; i += batchSize) {
    const batch = userIds.slice(i, i + batchSize);
    if (mode === 'backfill') for (const u of batch) await copyUser(from, to, u, counts);
    const check = async () => (await Promise.all(batch.map((u) => compareUser(from, to, u)))).flat();
    await settle(await check(), check);
    batches++;
  }

  const now = Date.now();
  const revoked = await from.revocations.list(now);
  if (mode === 'backfill') for (const r of revoked) await to.revocations.add(r);
  const checkRevocations = async (): Promise<Difference[]> => {
    const [a, b] = await Promise.all([from.revocations.list(now), to.revocations.list(now)]);
    const [ta, tb] = [sortedCanonical(a), sortedCanonical(b)];
    return ta === tb ? [] : [{ kind: 'revocations', key: '*', old: ta, new: tb }];
  };
  await settle(await checkRevocations(), checkRevocations);

  // Users moved to another home region: their move records are the directory's overrides.
  if (mode === 'backfill') for (const m of await from.homeMoves.list()) await to.homeMoves.put(m);
  const checkHomeMoves = async (): Promise<Difference[]> => {
    const [a, b] = await Promise.all([from.homeMoves.list(), to.homeMoves.list()]);
    const [ta, tb] = [sortedCanonical(a), sortedCanonical(b)];
    return ta === tb ? [] : [{ kind: 'homeMoves', key: '*', old: ta, new: tb }];
  };
  await settle(await checkHomeMoves(), checkHomeMoves);

  // Reports of past erasures (what an operator shows for a request), copied as they stand.
  if (mode === 'backfill') await copyErasures(from, to);
  const checkErasures = async (): Promise<Difference[]> => {
    const [a, b] = await Promise.all([from.retention.listErasures(), to.retention.listErasures()]);
    const [ta, tb] = [canonical(a), canonical(b)];
    return ta === tb ? [] : [{ kind: 'erasures', key: '*', old: ta, new: tb }];
  };
  await settle(await checkErasures(), checkErasures);

  const finishedAt = Date.now();
  await report(finishedAt);
  return {
    mode,
    startedAt,
    finishedAt,
    conversations,
    users: userIds.length,
    batches,
    counts,
    repaired,
    remaining,
  };
}

/**
 * Copies differing rows again from the old store (and trims what only the new store has). A
 * message that differs is repaired by copying its whole conversation again: its reactions and
 * thread summary come from other rows (reaction records, replies), and copying is idempotent.
 */
async function repair(from: Storage, to: Storage, found: readonly Difference[]): Promise<void> {
  const counts = zeroCounts();
  const conversations = new Set<string>();
  const users = new Set<string>();
  const trimmedQueues = new Set<string>();
  for (const d of found) {
    switch (d.kind) {
      case 'message':
      case 'attachment':
        conversations.add(splitLast(d.key)[0]);
        break;
      case 'readMarker': {
        const [userId, conversationId] = splitFirst(d.key);
        const marker = await from.getReadMarker(userId, conversationId);
        if (marker !== null) await to.markRead(userId, conversationId, marker);
        break;
      }
      case 'offline': {
        const [userId] = splitFirst(d.key);
        if (!trimmedQueues.has(userId)) await trimExtras(from, to, 'offline', userId);
        trimmedQueues.add(userId);
        users.add(userId);
        break;
      }
      case 'unread': {
        const [userId, conversationId] = splitFirst(d.key);
        users.add(userId);
        conversations.add(conversationId);
        break;
      }
      case 'mutes':
      case 'blocks':
        users.add(d.key);
        break;
      case 'revocations':
        for (const r of await from.revocations.list(Date.now())) await to.revocations.add(r);
        break;
      case 'homeMoves':
        for (const m of await from.homeMoves.list()) await to.homeMoves.put(m);
        break;
      case 'erasures':
        await copyErasures(from, to);
        break;
      case 'members':
        await trimExtras(from, to, 'members', d.key);
        conversations.add(d.key);
        break;
      default:
        conversations.add(d.key);
    }
  }
  for (const id of conversations) await copyConversation(from, to, id, counts);
  for (const userId of users) await copyUser(from, to, userId, counts);
}

async function copyErasures(from: Storage, to: Storage): Promise<void> {
  for (const e of await from.retention.listErasures()) await to.retention.putErasure(e);
}

/** The same difference (same rows, same values on both sides). */
function same(d: Difference): string {
  return JSON.stringify([d.kind, d.key, d.old, d.new]);
}

/** The rows a difference is about. */
function row(d: Difference): string {
  return `${d.kind} ${d.key}`;
}

/** `conversation/id` keys: the id after the last `/`. */
function splitLast(key: string): [string, string] {
  const i = key.lastIndexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** `user/…` keys: the user before the first `/`. */
function splitFirst(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** A short text summary for logs and the command's output. */
export function summarise(r: MigrationReport): string {
  return canonical({
    mode: r.mode,
    conversations: r.conversations,
    users: r.users,
    batches: r.batches,
    counts: r.counts,
    repaired: r.repaired.length,
    remaining: r.remaining.length,
    ms: r.finishedAt - r.startedAt,
  });
}
