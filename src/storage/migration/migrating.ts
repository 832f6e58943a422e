/**
 * A `Storage` over two stores while a region's data moves from one to the other, routing each
 * call by the current phase (`phase.ts`), which may change between any two calls:
 *
 * - writes go to the authoritative store first (old until `read-new`, then new); its answer is
 *   what the caller gets. In the dual-write phases the same write is then *mirrored* to the other
 *   store as an idempotent upsert keyed by id (a stored message is mirrored with `putReplica`
 *   under the id the first store gave it), so it lands the same whether the backfill copied the
 *   row before or after it.
 * - reads go to the authoritative store; in `compare` to both, and a disagreement is counted
 *   and logged (the old store's answer is returned).
 *
 * A mirror write that fails does not fail the caller's request (the authoritative store has it,
 * so nothing acked is lost): it is counted (`store_migration_mirror_failures_total`) and logged,
 * and the reconciliation pass (`backfill.ts`) repairs it before the next phase.
 */

import { type Logger, silentLogger } from '../../util/log.ts';
import type { AttachmentStore } from '../attachments.ts';
import { chunkCount } from '../attachments.ts';
import type { HomeMoveStore } from '../home-moves.ts';
import type { ModerationStore } from '../moderation.ts';
import type { MuteStore } from '../mutes.ts';
import type { RetentionStore } from '../retention.ts';
import type { RevocationStore } from '../revocations.ts';
import type { Storage } from '../types.ts';
import { canonical, sortedCanonical } from './compare.ts';
import { readsFrom, type StorePhase } from './phase.ts';

/** Where the wrapper learns the phase: read on every call, so a change applies at once. */
export interface PhaseSource {
  readonly phase: StorePhase;
  start?(): Promise<void>;
  close?(): Promise<void>;
}

/** Counters the wrapper keeps, by operation name (`getHistory`, `attachments.get`, …). */
export class MigrationStats {
  readonly compared = new Map<string, number>();
  readonly disagreements = new Map<string, number>();
  readonly mirrorFailures = new Map<string, number>();

  static bump(map: Map<string, number>, op: string): void {
    map.set(op, (map.get(op) ?? 0) + 1);
  }

  static total(map: Map<string, number>): number {
    let n = 0;
    for (const v of map.values()) n += v;
    return n;
  }
}

export interface MigratingStorage extends Storage {
  readonly migration: {
    readonly old: Storage;
    readonly new: Storage;
    readonly stats: MigrationStats;
    readonly phase: StorePhase;
  };
}

export interface MigratingOptions {
  log?: Logger;
  /** Shared counters (tests read them; the gateway's metrics collect them). Default: new ones. */
  stats?: MigrationStats;
}

type Mirror<T> = (store: Storage, result: T, primary: Storage) => Promise<unknown>;

/** How often one operation's compare disagreements are logged (all are counted). */
const LOG_EVERY_MS = 5000;

/** Routes one call by phase; see the file comment. */
class Switch {
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly old: Storage,
    private readonly neu: Storage,
    private readonly source: PhaseSource,
    readonly stats: MigrationStats,
    private readonly log: Logger,
  ) {}

  async read<T>(op: string, f: (s: Storage) => Promise<T>, key: (v: T) => string = canonical): Promise<T> {
    const phase = this.source.phase;
    if (phase !== 'compare') return f(readsFrom(phase) === 'old' ? this.old : this.neu);
    const [a, b] = await Promise.allSettled([f(this.old), f(this.neu)]);
    if (a.status === 'rejected') throw a.reason;
    MigrationStats.bump(this.stats.compared, op);
    if (b.status === 'rejected') {
      MigrationStats.bump(this.stats.disagreements, op);
      if (this.shouldLog(op))
        this.log.warn({ op, err: b.reason }, 'store migration compare: the new store failed a read');
    } else if (key(a.value) !== key(b.value)) {
      MigrationStats.bump(this.stats.disagreements, op);
      if (this.shouldLog(op)) {
        this.log.warn(
          { op, old: canonical(a.value).slice(0, 500), new: canonical(b.value).slice(0, 500) },
          'store migration compare: the stores disagree',
        );
      }
    }
    return a.value;
  }

  /**
   * One log line per operation per `LOG_EVERY_MS`: under traffic a read racing a write in flight
   * disagrees now and then, and every read of a busy region logging would drown the log. The
   * counter has them all.
   */
  private shouldLog(op: string): boolean {
    const now = Date.now();
    if (now - (this.lastLogged.get(op) ?? 0) < LOG_EVERY_MS) return false;
    this.lastLogged.set(op, now);
    return true;
  }

  async write<T>(op: string, f: (s: Storage) => Promise<T>, mirror?: Mirror<T>): Promise<T> {
    const phase = this.source.phase;
    if (phase === 'old') return f(this.old);
    if (phase === 'new-only' || phase === 'done') return f(this.neu);
    const [primary, secondary] = phase === 'read-new' ? [this.neu, this.old] : [this.old, this.neu];
    const result = await f(primary);
    try {
      await (mirror ? mirror(secondary, result, primary) : f(secondary));
    } catch (err) {
      MigrationStats.bump(this.stats.mirrorFailures, op);
      this.log.warn({ op, err }, 'store migration: mirroring a write failed; reconciliation will repair it');
    }
    return result;
  }

  /** Stores the current phase uses (both while dual-writing). */
  inUse(): Storage[] {
    const phase = this.source.phase;
    if (phase === 'old') return [this.old];
    if (phase === 'new-only' || phase === 'done') return [this.neu];
    return [this.old, this.neu];
  }
}

const sorted = (v: readonly unknown[]) => sortedCanonical(v);

function attachmentsOf(sw: Switch): AttachmentStore {
  const a = (s: Storage) => s.attachments;
  return {
    begin: (upload) => sw.write('attachments.begin', (s) => a(s).begin(upload)),
    putChunk: (upload, index, data) =>
      sw.write('attachments.putChunk', (s) => a(s).putChunk(upload, index, data)),
    // An upload begun before dual-writing has chunks in the first store only: the mirror copies
    // them before its commit, so the second store never shows an attachment without its bytes.
    commit: (upload, meta) =>
      sw.write(
        'attachments.commit',
        (s) => a(s).commit(upload, meta),
        async (s, _r, primary) => {
          for (let i = 0; i < chunkCount(meta.size, meta.chunkSize); i++) {
            if (await a(s).readChunk(meta.id, i)) continue;
            const chunk = await a(primary).readChunk(meta.id, i);
            if (chunk) await a(s).putChunk(upload, i, chunk);
          }
          await a(s).commit(upload, meta);
        },
      ),
    discard: (upload) => sw.write('attachments.discard', (s) => a(s).discard(upload)),
    get: (id) => sw.read('attachments.get', (s) => a(s).get(id)),
    readChunk: (id, index) => sw.read('attachments.readChunk', (s) => a(s).readChunk(id, index)),
    delete: (conversationId, ids) => sw.write('attachments.delete', (s) => a(s).delete(conversationId, ids)),
    sweepOrphans: (startedBefore) =>
      sw.write('attachments.sweepOrphans', (s) => a(s).sweepOrphans(startedBefore)),
  };
}

function moderationOf(sw: Switch): ModerationStore {
  const m = (s: Storage) => s.moderation;
  return {
    setRole: (change) => sw.write('moderation.setRole', (s) => m(s).setRole(change)),
    setBan: (change) => sw.write('moderation.setBan', (s) => m(s).setBan(change)),
    setBlock: (change) => sw.write('moderation.setBlock', (s) => m(s).setBlock(change)),
    getGroup: (id) => sw.read('moderation.getGroup', (s) => m(s).getGroup(id)),
    listBlocked: (userId) => sw.read('moderation.listBlocked', (s) => m(s).listBlocked(userId), sorted),
  };
}

function mutesOf(sw: Switch): MuteStore {
  const m = (s: Storage) => s.mutes;
  return {
    set: (setting) => sw.write('mutes.set', (s) => m(s).set(setting)),
    isMuted: (userId, conversationId) =>
      sw.read('mutes.isMuted', (s) => m(s).isMuted(userId, conversationId)),
    listMuted: (userId) => sw.read('mutes.listMuted', (s) => m(s).listMuted(userId), sorted),
  };
}

/** Home-region move records (src/homes/): written to both while both are written, like mutes. */
function homeMovesOf(sw: Switch): HomeMoveStore {
  const h = (s: Storage) => s.homeMoves;
  return {
    put: (move) => sw.write('homeMoves.put', (s) => h(s).put(move)),
    get: (userId) => sw.read('homeMoves.get', (s) => h(s).get(userId)),
    list: () => sw.read('homeMoves.list', (s) => h(s).list(), sorted),
    listActive: () => sw.read('homeMoves.listActive', (s) => h(s).listActive(), sorted),
    putReply: (reply) => sw.write('homeMoves.putReply', (s) => h(s).putReply(reply)),
    getReply: (userId, moveId, phase, round) =>
      sw.read('homeMoves.getReply', (s) => h(s).getReply(userId, moveId, phase, round)),
  };
}

function revocationsOf(sw: Switch): RevocationStore {
  const r = (s: Storage) => s.revocations;
  return {
    add: (revocation) => sw.write('revocations.add', (s) => r(s).add(revocation)),
    list: (now) => sw.read('revocations.list', (s) => r(s).list(now), sorted),
  };
}

function retentionOf(sw: Switch): RetentionStore {
  const r = (s: Storage) => s.retention;
  return {
    setConversationRetention: (id, seconds, at) =>
      sw.write('retention.setConversationRetention', (s) => r(s).setConversationRetention(id, seconds, at)),
    getConversationRetention: (id) =>
      sw.read('retention.getConversationRetention', (s) => r(s).getConversationRetention(id)),
    listConversations: (after, limit) =>
      sw.read('retention.listConversations', (s) => r(s).listConversations(after, limit)),
    expireConversation: (id, before) =>
      sw.write('retention.expireConversation', (s) => r(s).expireConversation(id, before)),
    // The second store's run reports nothing to the caller (its progress is the first store's).
    eraseUser: (userId, opts) =>
      sw.write(
        'retention.eraseUser',
        (s) => r(s).eraseUser(userId, opts),
        (s) => r(s).eraseUser(userId),
      ),
    putErasure: (record) => sw.write('retention.putErasure', (s) => r(s).putErasure(record)),
    getErasures: (requestId) => sw.read('retention.getErasures', (s) => r(s).getErasures(requestId)),
    listErasures: () => sw.read('retention.listErasures', (s) => r(s).listErasures()),
  };
}

/**
 * Wraps `old` and `neu` (both not yet initialised: `init()` opens both and starts `phase`).
 * `close()` closes both and the phase source.
 */
export function migratingStorage(
  old: Storage,
  neu: Storage,
  phase: PhaseSource,
  opts: MigratingOptions = {},
): MigratingStorage {
  const stats = opts.stats ?? new MigrationStats();
  const sw = new Switch(old, neu, phase, stats, opts.log ?? silentLogger);
  return {
    migration: {
      old,
      new: neu,
      stats,
      get phase() {
        return phase.phase;
      },
    },
    attachments: attachmentsOf(sw),
    moderation: moderationOf(sw),
    mutes: mutesOf(sw),
    homeMoves: homeMovesOf(sw),
    revocations: revocationsOf(sw),
    retention: retentionOf(sw),
    async init() {
      await phase.start?.();
      await Promise.all([old.init(), neu.init()]);
    },
    async close() {
      await Promise.allSettled([phase.close?.(), old.close(), neu.close()]);
    },
    async ping() {
      await Promise.all(sw.inUse().map((s) => s.ping()));
    },
    createConversation: (conv, members) =>
      sw.write(
        'createConversation',
        (s) => s.createConversation(conv, members),
        (s, created) => s.createConversation(created, members),
      ),
    getConversation: (id) => sw.read('getConversation', (s) => s.getConversation(id)),
    addMembers: (id, userIds) => sw.write('addMembers', (s) => s.addMembers(id, userIds)),
    removeMembers: (id, userIds) => sw.write('removeMembers', (s) => s.removeMembers(id, userIds)),
    listMembers: (id) => sw.read('listMembers', (s) => s.listMembers(id), sorted),
    isMember: (id, userId) => sw.read('isMember', (s) => s.isMember(id, userId)),
    listUserConversationIds: (userId) =>
      sw.read('listUserConversationIds', (s) => s.listUserConversationIds(userId), sorted),
    // Conversations with the same last activity may come in either order: compared as a set.
    listUserConversations: (userId) =>
      sw.read('listUserConversations', (s) => s.listUserConversations(userId), sorted),
    // The authoritative store decides whether it is a duplicate; the other stores what it stored.
    appendMessage: (message, appendOpts) =>
      sw.write(
        'appendMessage',
        (s) => s.appendMessage(message, appendOpts),
        (s, result) => s.putReplica(result.message),
      ),
    putReplica: (message) => sw.write('putReplica', (s) => s.putReplica(message)),
    getMessage: (id, messageId) => sw.read('getMessage', (s) => s.getMessage(id, messageId)),
    getHistory: (id, query) => sw.read('getHistory', (s) => s.getHistory(id, query)),
    // Stores may bound a search's work differently (`nextBefore`): the matches are compared.
    searchMessages: (query) =>
      sw.read(
        'searchMessages',
        (s) => s.searchMessages(query),
        (page) => canonical(page.messages.map((m) => m.messageId)),
      ),
    applyChange: (change) => sw.write('applyChange', (s) => s.applyChange(change)),
    applyReaction: (reaction) => sw.write('applyReaction', (s) => s.applyReaction(reaction)),
    scrubOffline: (userIds, id, messageId) =>
      sw.write('scrubOffline', (s) => s.scrubOffline(userIds, id, messageId)),
    addThreadReply: (reply) => sw.write('addThreadReply', (s) => s.addThreadReply(reply)),
    getThread: (id, rootId, query) => sw.read('getThread', (s) => s.getThread(id, rootId, query)),
    markRead: (userId, id, messageId) => sw.write('markRead', (s) => s.markRead(userId, id, messageId)),
    getReadMarker: (userId, id) => sw.read('getReadMarker', (s) => s.getReadMarker(userId, id)),
    enqueueOffline: (userId, messages) =>
      sw.write('enqueueOffline', (s) => s.enqueueOffline(userId, messages)),
    listOffline: (userId, limit, after) => sw.read('listOffline', (s) => s.listOffline(userId, limit, after)),
    ackOffline: (userId, ids) => sw.write('ackOffline', (s) => s.ackOffline(userId, ids)),
    countOffline: (userId) => sw.read('countOffline', (s) => s.countOffline(userId)),
    recordLate: (message, visibleAt) => sw.write('recordLate', (s) => s.recordLate(message, visibleAt)),
    listLate: (id, since, limit) => sw.read('listLate', (s) => s.listLate(id, since, limit)),
  };
}
