/**
 * Resume and replay bookkeeping: where the client resumes from (the resume position and the
 * legacy `lastSeenId`, both persisted), which messages it has delivered (the inbox drops
 * duplicates by id and holds replayed messages back until their replay ends), and what ending a
 * replay does: release in id order, ack the replayed ids, take the replay's position.
 */
import { ChatClientError, LocalErrorCode } from './errors.ts';
import { isMessageId } from './ids.ts';
import { Inbox } from './inbox.ts';
import { LatestSave } from './latest-save.ts';
import type { SyncedInfo } from './options.ts';
import { ResumePositions } from './position.ts';
import type { ClientStorage } from './storage.ts';
import type { MessageFrame, RequestOf, SyncedFrame, UpdateFrame, WireMessage } from './types.ts';

/** Most ids in one `ack` frame (docs/protocol.md). */
const MAX_ACK_IDS = 1000;

export interface ResumeDeps {
  storage: ClientStorage;
  dedupCapacity: number | undefined;
  /** A new message reaches the app (after dedup, in order). */
  deliver: (message: WireMessage, replay: boolean) => void;
  /** A new edit or deletion reaches the app (after dedup, in order). */
  deliverUpdate: (update: UpdateFrame, replay: boolean) => void;
  /** Acks replayed ids on the current session, if there is one with a welcome. */
  ack: (messageIds: string[]) => void;
  /** Saving the position or `lastSeenId` failed (a `storage` error for the app). */
  storageError: (err: ChatClientError) => void;
  /** A replay ended with its `synced` (the app's `synced` event). */
  announce: (info: SyncedInfo) => void;
  /** A truncated replay ended: ask for the rest (an explicit `sync`). */
  continueReplay: () => void;
}

export class ResumeTracker {
  private readonly inbox: Inbox;
  private readonly positions: ResumePositions;
  /** The resume position and `lastSeenId`, saved one write at a time, always the newest. */
  private readonly positionSave: LatestSave;
  private readonly lastSeenSave: LatestSave;

  constructor(private readonly d: ResumeDeps) {
    const storageError = (what: string) => (cause: unknown) =>
      d.storageError(
        new ChatClientError(LocalErrorCode.Storage, `could not save ${what}`, undefined, { cause }),
      );
    this.positionSave = new LatestSave(
      () => this.positions.forConnect,
      (position) => d.storage.savePosition(position),
      storageError('the resume position'),
    );
    this.lastSeenSave = new LatestSave(
      () => this.inbox.lastSeenId,
      (id) => d.storage.saveLastSeenId(id),
      storageError('lastSeenId'),
    );
    this.positions = new ResumePositions(() => this.positionSave.request());
    this.inbox = new Inbox({
      ...(d.dedupCapacity !== undefined ? { dedupCapacity: d.dedupCapacity } : {}),
      deliver: (message, replay) => {
        this.lastSeenSave.request();
        d.deliver(message, replay);
      },
      deliverUpdate: (update, replay) => {
        this.lastSeenSave.request();
        d.deliverUpdate(update, replay);
      },
    });
  }

  /**
   * The newest message id delivered: the legacy resume form (`since`), still sent for servers
   * that hand out no position.
   */
  get lastSeenId(): string | null {
    return this.inbox.lastSeenId;
  }

  /** The resume position the next connect sends as `resume`; null before the first. */
  get forConnect(): string | null {
    return this.positions.forConnect;
  }

  /** Takes what the storage held (loaded by the connection, with the outbox). */
  restore(position: string | null, lastSeen: string | null): void {
    this.positions.restore(position);
    this.inbox.restoreLastSeenId(isMessageId(lastSeen) ? lastSeen : null);
  }

  /** The server does not echo our own message to this socket; a later replay of it is not news. */
  markSeen(messageId: string): void {
    this.inbox.markSeen(messageId);
  }

  /** A welcome: the connect replay begins. */
  beginConnectReplay(): void {
    this.inbox.beginReplay();
  }

  /** A `sync` goes on the wire: it asks from where the client stands, and a replay begins. */
  beginSync(frame: RequestOf<'sync'>): void {
    // The position wins on servers that know it; `since` is for those that do not.
    frame.position = this.positions.forSync;
    frame.since = this.inbox.lastSeenId;
    this.inbox.beginReplay();
  }

  receive(frame: MessageFrame, replay: boolean): void {
    this.inbox.receive(frame.message, replay);
    if (!replay) this.positions.live(frame.pos, this.inbox.replaying);
  }

  receiveUpdate(frame: UpdateFrame, replay: boolean): void {
    this.inbox.receiveUpdate(frame, replay);
    if (!replay) this.positions.live(frame.pos, this.inbox.replaying);
  }

  /**
   * A replay ended: the inbox releases what it held in id order, the replayed ids are acked, the
   * replay's position is taken (`synced`: none when it failed), and a truncated replay is
   * continued from where it stopped (with the continuation position it just took).
   */
  endReplay(synced?: SyncedFrame): void {
    const acks = this.inbox.endReplay();
    if (synced) this.positions.synced(synced.position, synced.truncated, this.inbox.replaying);
    else if (!this.inbox.replaying) this.positions.replaysEnded();
    for (let i = 0; i < acks.length; i += MAX_ACK_IDS) this.d.ack(acks.slice(i, i + MAX_ACK_IDS));
    if (!synced) return;
    const info = syncedInfo(synced);
    this.d.announce(info);
    if (info.truncated && info.lastId !== null) this.d.continueReplay();
  }

  /** The socket dropped: running replays are forgotten (the next connect replays again). */
  dropped(): void {
    this.inbox.abortReplays();
    this.positions.dropped();
  }
}

/** What a `synced` frame tells the app (`initial`: the replay that follows a connect). */
export function syncedInfo(frame: SyncedFrame): SyncedInfo {
  return {
    initial: frame.id === null,
    count: frame.count,
    lastId: frame.lastId,
    truncated: frame.truncated,
    // '' from a server that hands out no position.
    position: typeof frame.position === 'string' ? frame.position : '',
  };
}
