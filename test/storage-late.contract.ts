/**
 * The late index part of the storage contract (`Storage.recordLate` / `listLate`), run by
 * `storageContract` against every implementation. Visibility times are placed in the past
 * (months after the snowflake epoch, before today): an implementation may read only up to its
 * own clock plus a clock-skew margin.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BUCKET_MS } from '../src/storage/cassandra/rows.ts';
import { mapLimit } from '../src/storage/common.ts';
import {
  LATE_MS,
  type LateMessage,
  MAX_HISTORY_LIMIT,
  type Storage,
  type StoredMessage,
} from '../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../src/util/snowflake.ts';

const DAY = 24 * 3600 * 1000;
/**
 * Message ids are minted here; they become visible (late) after it. After the conversations'
 * creation (the contract creates them 49 days after the epoch): an implementation may skip
 * what lies before a conversation began.
 */
const MINTED = EPOCH_MS + 60 * DAY;

let seq = 0;
function uid(label: string): string {
  seq++;
  return `${label}-${seq}-${randomBytes(3).toString('hex')}`;
}

/** A message minted `ms` after MINTED (the `n`th in that millisecond). */
function message(conversationId: string, ms: number, n = 0): StoredMessage {
  const at = MINTED + ms;
  return {
    conversationId,
    messageId: snowflakeFloor(at) + BigInt(n),
    senderId: 'sender',
    clientMsgId: n % 2 ? `c-${ms}-${n}` : null,
    body: `late ${ms}+${n} ✓`,
    createdAt: at,
  };
}

/** A visibility time `ms` after MINTED plus well over LATE_MS, so every message above is late. */
function late(ms: number): number {
  return MINTED + 3 * LATE_MS + ms;
}

const entry = (m: StoredMessage, visibleAt: number): LateMessage => ({ message: m, visibleAt });

/**
 * @param store the implementation under test, already `init()`ed (a getter: the contract's last
 *   test swaps in a reopened instance).
 * @param conversation creates a conversation through the store and returns its id.
 */
export function lateIndexContract(store: () => Storage, conversation: () => Promise<string>): void {
  describe('late index', () => {
    it('lists by (visibleAt, messageId) ascending, whatever order they were recorded in', async () => {
      const s = store();
      const c = await conversation();
      const [a, b, d, e] = [message(c, 0), message(c, 5), message(c, 5, 1), message(c, 9)];
      // Across several 10-day buckets (with an empty one between), two in the same millisecond.
      const recorded: LateMessage[] = [
        entry(e, late(3 * BUCKET_MS)),
        entry(d, late(BUCKET_MS)),
        entry(a, late(BUCKET_MS)),
        entry(b, late(0)),
        entry(a, late(1)),
      ];
      for (const r of recorded) await s.recordLate(r.message, r.visibleAt);
      assert.deepEqual(await s.listLate(c, 0, 100), [
        entry(b, late(0)),
        entry(a, late(1)),
        entry(a, late(BUCKET_MS)),
        entry(d, late(BUCKET_MS)),
        entry(e, late(3 * BUCKET_MS)),
      ]);
    });

    it('reads from `sinceVisibleAt` on, inclusive', async () => {
      const s = store();
      const c = await conversation();
      const ms = [message(c, 0), message(c, 1), message(c, 2)];
      const times = [late(0), late(2 * BUCKET_MS), late(2 * BUCKET_MS + 7)];
      for (const [i, m] of ms.entries()) await s.recordLate(m, times[i] as number);
      const [e0, e1, e2] = ms.map((m, i) => entry(m, times[i] as number));
      assert.deepEqual(await s.listLate(c, late(0), 10), [e0, e1, e2]);
      assert.deepEqual(await s.listLate(c, late(1), 10), [e1, e2]);
      assert.deepEqual(await s.listLate(c, late(2 * BUCKET_MS), 10), [e1, e2]);
      assert.deepEqual(await s.listLate(c, late(2 * BUCKET_MS) + 0.5, 10), [e2]);
      assert.deepEqual(await s.listLate(c, late(2 * BUCKET_MS + 8), 10), []);
      assert.deepEqual(await s.listLate(c, Date.now() + DAY, 10), []);
      assert.deepEqual(await s.listLate(c, -5, 10), [e0, e1, e2]);
      await assert.rejects(s.listLate(c, Number.NaN, 10), RangeError);
    });

    it('returns at most `limit`, capped at MAX_HISTORY_LIMIT', async () => {
      const s = store();
      const c = await conversation();
      const all = Array.from({ length: MAX_HISTORY_LIMIT + 1 }, (_, i) => entry(message(c, i), late(i)));
      await mapLimit(all, 32, (r) => s.recordLate(r.message, r.visibleAt));
      assert.deepEqual(await s.listLate(c, 0, 3), all.slice(0, 3));
      assert.deepEqual(await s.listLate(c, late(10), 2), all.slice(10, 12));
      assert.deepEqual(await s.listLate(c, 0, 0), []);
      assert.deepEqual(await s.listLate(c, 0, -1), []);
      const capped = await s.listLate(c, 0, MAX_HISTORY_LIMIT + 100);
      assert.equal(capped.length, MAX_HISTORY_LIMIT);
      assert.deepEqual(capped, all.slice(0, MAX_HISTORY_LIMIT));
    });

    it('is idempotent for the same (message, visibleAt), also when calls race', async () => {
      const s = store();
      const c = await conversation();
      const m = message(c, 0, 1);
      await s.recordLate(m, late(0));
      await Promise.all(Array.from({ length: 5 }, () => s.recordLate(m, late(0))));
      assert.deepEqual(await s.listLate(c, 0, 10), [entry(m, late(0))]);
    });

    it('keeps a message recorded at several times once per time', async () => {
      const s = store();
      const c = await conversation();
      const m = message(c, 0);
      const other = message(c, 1);
      // A replica applied late, then redelivered and applied again; a resend fanned out later.
      await s.recordLate(m, late(BUCKET_MS));
      await s.recordLate(other, late(500));
      await s.recordLate(m, late(0));
      await s.recordLate(m, late(BUCKET_MS));
      assert.deepEqual(await s.listLate(c, 0, 10), [
        entry(m, late(0)),
        entry(other, late(500)),
        entry(m, late(BUCKET_MS)),
      ]);
      assert.deepEqual(await s.listLate(c, late(1), 10), [
        entry(other, late(500)),
        entry(m, late(BUCKET_MS)),
      ]);
    });

    it('keeps conversations apart, also when one id is a prefix of another', async () => {
      const s = store();
      const c = await conversation();
      const longer = `${c}0`;
      // No createConversation for `longer`: a replica can arrive before its conversation does.
      const [m1, m2] = [message(c, 0), message(longer, 0)];
      await s.recordLate(m1, late(0));
      await s.recordLate(m2, late(0));
      assert.deepEqual(await s.listLate(c, 0, 10), [entry(m1, late(0))]);
      assert.deepEqual(await s.listLate(longer, 0, 10), [entry(m2, late(0))]);
      assert.deepEqual(await s.listLate(uid('never-late'), 0, 10), []);
    });

    it('rejects visibility times that are not whole non-negative ms', async () => {
      const s = store();
      const c = await conversation();
      const m = message(c, 0);
      for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 8.64e15 + 1]) {
        await assert.rejects(s.recordLate(m, bad), RangeError, String(bad));
      }
      assert.deepEqual(await s.listLate(c, 0, 10), []);
    });
  });
}

/** Records one late entry before a reopen; `check` asserts it afterwards (the reopen test). */
export async function recordBeforeReopen(
  s: Storage,
  conversationId: string,
): Promise<(s: Storage) => Promise<void>> {
  const m = message(conversationId, 42, 1);
  await s.recordLate(m, late(BUCKET_MS));
  return async (reopened) => {
    assert.deepEqual(await reopened.listLate(conversationId, late(0), 10), [entry(m, late(BUCKET_MS))]);
  };
}
