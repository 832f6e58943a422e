/**
 * Edits, deletes and reactions on Cassandra rows (`Storage.applyChange`, `applyReaction`,
 * `scrubOffline`). The state cells
 * (body, revision, deleted, edited_at, edit_count) are written with a timestamp derived from the
 * change (`stateTimestamp`), so Cassandra's last-write-wins *is* the merge: the larger revision
 * wins, a delete wins over any edit, and applying a change twice or in any order ends the same —
 * no read-before-write decides anything, so two gateways (or regions) applying concurrently agree.
 * The one read before the write checks that the target exists: an UPDATE would otherwise create
 * a row for a message this region has not received yet.
 */
import { assertMessageId, attachmentsColumn, REACTION_KEY_SEP, unique } from '../common.ts';
import type { ChangeApply, MessageState, ReactionApply, StoredMessage } from '../types.ts';
import type { LateIndex } from './late-index.ts';
import type { MessageStore } from './messages.ts';
import { bucketOf, bucketOfId, idTimestamp, stateTimestamp, toLong } from './rows.ts';
import { termsOf } from './search.ts';
import type { CqlSession } from './session.ts';

/** Late-index entries read per page while looking for a deleted message's copies. */
const LATE_SCAN_PAGE = 500;
/** Offline-queue lookups in flight at once while scrubbing a deleted message's copies. */
const SCRUB_CONCURRENCY = 16;

export class ChangeStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: CqlSession,
    private readonly messages: Pick<MessageStore, 'getMessage'>,
    private readonly late: Pick<LateIndex, 'listLate'>,
  ) {
    this.q = statements(db.ks);
  }

  async applyChange(change: ChangeApply): Promise<StoredMessage | null> {
    assertMessageId(change.targetId);
    const { conversationId, targetId, state } = change;
    const target = await this.messages.getMessage(conversationId, targetId);
    if (!target) return null;
    const body = state.deleted ? '' : change.body;
    // The search terms with the body, at the same timestamp: the index follows at once.
    await this.db.client.execute(
      this.q.updateState,
      [
        // A delete drops the attachment refs with the body; an edit keeps the message's own.
        ...stateParams(state, body, state.deleted ? null : attachmentsColumn(target)),
        termsOf(body),
        conversationId,
        bucketOfId(targetId),
        toLong(targetId),
      ],
      { timestamp: stateTimestamp(state) },
    );
    if (state.deleted) await this.scrubLate(target, state);
    // Read back: the row's state is whichever change won, which may be another than this one.
    return this.messages.getMessage(conversationId, targetId);
  }

  async applyReaction(r: ReactionApply): Promise<StoredMessage | null> {
    assertMessageId(r.targetId);
    const target = await this.messages.getMessage(r.conversationId, r.targetId);
    if (!target) return null;
    // The cell and the revision at the change's id timestamp: the larger revision wins each.
    await this.db.client.execute(
      this.q.react,
      [
        `${r.emoji}${REACTION_KEY_SEP}${r.userId}`,
        r.on,
        toLong(r.revision),
        r.conversationId,
        bucketOfId(r.targetId),
        toLong(r.targetId),
      ],
      { timestamp: idTimestamp(r.revision) },
    );
    return this.messages.getMessage(r.conversationId, r.targetId);
  }

  async scrubOffline(userIds: readonly string[], conversationId: string, messageId: bigint): Promise<void> {
    assertMessageId(messageId);
    const row = await this.messages.getMessage(conversationId, messageId);
    const state = row?.state;
    if (!state?.deleted) return;
    const users = unique(userIds);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < users.length) {
        const userId = users[next++]!;
        // Only existing copies: an UPDATE alone would queue a copy for every member.
        const rs = await this.db.client.execute(this.q.selectOffline, [userId, toLong(messageId)]);
        if (rs.rowLength === 0) continue;
        await this.db.client.execute(
          this.q.scrubOffline,
          [...stateParams(state, '', null), userId, toLong(messageId)],
          { timestamp: stateTimestamp(state) },
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(SCRUB_CONCURRENCY, users.length) }, worker));
  }

  /**
   * Empties the late index's copies of a deleted message: they became visible after the message
   * was created (give or take clock skew, which `listLate`'s walk from the creation bucket covers).
   */
  private async scrubLate(target: StoredMessage, state: MessageState): Promise<void> {
    let since = Math.max(target.createdAt - 60_000, 0);
    for (;;) {
      const page = await this.late.listLate(target.conversationId, since, LATE_SCAN_PAGE);
      for (const e of page) {
        if (e.message.messageId !== target.messageId) continue;
        await this.db.client.execute(
          this.q.scrubLate,
          [
            ...stateParams(state, '', null),
            target.conversationId,
            bucketOf(e.visibleAt),
            new Date(e.visibleAt),
            toLong(target.messageId),
          ],
          { timestamp: stateTimestamp(state) },
        );
      }
      if (page.length < LATE_SCAN_PAGE) return;
      const last = page[page.length - 1]!.visibleAt;
      // A full page within one ms cannot advance; the rest of that ms is re-read from the next.
      since = last === since ? last + 1 : last;
    }
  }
}

function stateParams(state: MessageState, body: string, attachments: string | null): unknown[] {
  return [
    body,
    toLong(state.revision),
    state.deleted,
    state.editedAt === null ? null : new Date(state.editedAt),
    state.editCount,
    attachments,
  ];
}

const SET_STATE = 'SET body = ?, revision = ?, deleted = ?, edited_at = ?, edit_count = ?, attachments = ?';

function statements(ks: string) {
  return {
    react: `UPDATE ${ks}.messages SET reactions[?] = ?, reactions_rev = ?
         WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    updateState: `UPDATE ${ks}.messages ${SET_STATE}, terms = ?
         WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    selectOffline: `SELECT message_id FROM ${ks}.offline_queue WHERE user_id = ? AND message_id = ?`,
    scrubOffline: `UPDATE ${ks}.offline_queue ${SET_STATE} WHERE user_id = ? AND message_id = ?`,
    scrubLate: `UPDATE ${ks}.late_messages ${SET_STATE}
         WHERE conversation_id = ? AND bucket = ? AND visible_at = ? AND message_id = ?`,
  } as const;
}
