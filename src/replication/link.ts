/**
 * The cross-region leg: a JetStream outbox stream per region (placed in that region's NATS
 * cluster) that its gateways publish replication events to, one subject per destination
 * region, and an inbox stream per region that *sources* every other region's outbox filtered
 * to its own destination subject. When a region or a link is down, publishes still land in the
 * local outbox; the inbox's sourcing catches up by itself when the link returns.
 *
 *   OUTBOX_<src>  subjects xr.<src>.to.<dst>.<bucket>    placement: cluster <src>
 *   INBOX_<dst>   sources OUTBOX_<src> filter xr.<src>.to.<dst>.> for every src ≠ dst
 *   consumer "apply" on INBOX_<dst>: durable, explicit ack, shared by the region's gateways
 *
 * Every publish carries a `Nats-Msg-Id`, `<event id>@<src>><dst>`, so a republish (after a retry
 * or a resend) inside the duplicate window is dropped by the outbox; receivers also apply events
 * idempotently, and remember applied events by the event id alone (`eventIdOf`). It also carries
 * `Chat-Key`, the conversation the event belongs to: a region applies many conversations' events
 * at once and each conversation's one at a time, in stream order (`keyed-apply.ts`).
 *
 * An event that carries content (a message body, an edited body, attachment bytes) also carries
 * `Chat-Item`, what that content belongs to (`m<message id>`, `a<attachment id>`), and is published
 * on the subject bucket of that item (`itemBucket`). When the content is deleted, each region
 * erases those events from its own outbox and inbox (`erase`): it reads the bucket's headers from
 * the item's time on and securely deletes the matches. Buckets, not one subject per item, because
 * nats-server keeps an index entry per distinct subject in memory for as long as the stream holds it.
 *
 * The publishing region is part of that id because an inbox deduplicates what it sources too,
 * and nats-server 2.9 does not skip a sourced message it finds to be a duplicate: it restarts
 * that source after the last message the inbox holds from it, which is the duplicate again, so
 * sourcing from that outbox stalls until the duplicate window (10 minutes by default) has passed
 * (nats-server issue #4459; 2.14 adds an option to turn this dedup off). Two regions publish the same event when a resend reaches
 * a region the original had already been replicated to (it answers `duplicate` and publishes
 * again); with one id for both, the third region stopped hearing from the second for minutes.
 */
import {
  AckPolicy,
  DeliverPolicy,
  headers,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
  type StreamConfig,
} from 'nats';
import { connectNats, type NatsTarget } from '../services/nats.ts';
import { CLOSE_GRACE_MS, drainNats } from '../util/close.ts';
import { delay, settleWithin } from '../util/deadline.ts';
import { type Logger, silentLogger } from '../util/log.ts';
import type { CrossRegionBacklog } from './backlog.ts';
import { KeyedApply } from './keyed-apply.ts';
import { unsourced } from './unsourced.ts';

export type { CrossRegionBacklog, PeerBacklog } from './backlog.ts';

/** `servers`, and the credentials and TLS of the region's `nats` block (services/nats.ts). */
export interface CrossRegionOptions extends NatsTarget {
  region: string;
  /** Every other region events are replicated to. */
  peers: string[];
  outboxMaxAgeMs: number;
  duplicateWindowMs: number;
  name?: string;
  /** How long start() keeps retrying stream setup while the supercluster forms. */
  setupTimeoutMs?: number;
  /** Setup retries and failed applies. Default: silent. */
  log?: Logger;
}

/**
 * `origin` is the region that published this copy; `eventId` names the event whatever region
 * published it (a republish from another region has the same one).
 */
export type EventHandler = (data: Uint8Array, meta: EventMeta) => Promise<void>;

export interface EventMeta {
  origin: string;
  eventId: string;
  /** The event's sequence in this region's inbox (`eraseInboxEvent` removes it). */
  seq: number;
  /** The content the event carries (`Chat-Item`), or null when it carries none. */
  item: string | null;
}

/** Content an event carries, to erase once it is deleted: everything published since `since` (ms) is looked at. */
export interface ErasableItem {
  item: string;
  since: number;
}

export interface ConsumeOptions {
  /**
   * True for an event that opens its key (a conversation's creation): it is applied before the
   * events of its key held here that are not in an attempt (see `KeyedTask.opensKey`).
   */
  opensKey?(data: Uint8Array): boolean;
}

/** The durable consumer each region applies its inbox with (the fault suite reads its figures). */
export const APPLY_CONSUMER = 'apply';
const CONSUMER = APPLY_CONSUMER;
/**
 * Events a gateway holds at once (being applied, retried, or waiting behind an earlier event of
 * their conversation); bounds memory while a region catches up, and the store requests in flight
 * (a few per event, well under the Cassandra driver's 2,048 per connection).
 */
const MAX_IN_FLIGHT = 256;
/** A handler failure is retried after this long (then again, until it succeeds). */
const RETRY_DELAY_MS = 1000;
/** Unacked events are redelivered (to any gateway of the region) after this long. */
const ACK_WAIT_MS = 30_000;
/** The header naming an event's conversation; events without it share one key. */
const KEY_HEADER = 'Chat-Key';
/** The header naming the content an event carries (see the module comment). */
const ITEM_HEADER = 'Chat-Item';
/**
 * Subject buckets for events that carry content. Erasing an item reads the headers of its bucket
 * since the item's time: 1/1024 of the stream, while nats-server's per-subject index stays at
 * 1,024 entries per destination.
 */
const ITEM_BUCKETS = 1024;
/** The subject token of events without content. */
const NO_ITEM = '_';
/** Above this many buckets an erase reads the whole stream once instead of bucket by bucket. */
const MAX_BUCKET_SCANS = 8;

/**
 * The key an inbox event is applied under: its origin region and its conversation. Order is kept
 * per origin only, as the streams only ever ordered one origin's events. Across origins it must
 * not be kept: a conversation created in one region and written to from a second reach a third
 * through two streams, and the second's message waits (retried in place) for the first's
 * `created` event, which would otherwise be queued behind it under the same key — for good.
 */
export function applyKey(origin: string, conversationKey: string): string {
  return `${origin}\u0000${conversationKey}`;
}

export const outboxStream = (region: string) => `OUTBOX_${region.replace(/[^A-Za-z0-9_-]/g, '_')}`;
export const inboxStream = (region: string) => `INBOX_${region.replace(/[^A-Za-z0-9_-]/g, '_')}`;
export const outboxSubject = (src: string, dst: string, bucket: string = NO_ITEM) =>
  `xr.${src}.to.${dst}.${bucket}`;

/** The subject token of an item's events: FNV-1a of the item, modulo ITEM_BUCKETS. */
export function itemBucket(item: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < item.length; i++) {
    h ^= item.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return `b${(h >>> 0) % ITEM_BUCKETS}`;
}

/** The `Nats-Msg-Id` of an event published by `src` for `dst`: unique per outbox and per inbox source. */
export const publishId = (eventId: string, src: string, dst: string) => `${eventId}@${src}>${dst}`;

/**
 * The event id in a `Nats-Msg-Id`: everything before the last `@` (region names have none). Also
 * reads the earlier `<event id>@<dst>` form, still in streams written before the publisher's region
 * was added.
 */
export function eventIdOf(msgId: string): string {
  const at = msgId.lastIndexOf('@');
  return at < 0 ? msgId : msgId.slice(0, at);
}

export class CrossRegionLink {
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private stopConsumer: (() => void) | null = null;
  private consumeLoop: Promise<void> | null = null;
  private applying: KeyedApply | null = null;

  constructor(private readonly opts: CrossRegionOptions) {}

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  async start(): Promise<void> {
    this.nc = await connectNats(
      this.opts,
      {
        name: this.opts.name ?? `xregion-${this.opts.region}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
      },
      'replication',
    );
    this.js = this.nc.jetstream();
    const jsm = await this.nc.jetstreamManager();
    // Right after a supercluster starts, the JetStream meta group may not know every region's
    // server yet ("no suitable peers for placement"): retry until it does.
    const deadline = Date.now() + (this.opts.setupTimeoutMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ensureStreams(jsm);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        this.log.warn({ err, attempt: attempt + 1 }, 'JetStream setup failed; retrying');
        await delay(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /** Creates or updates this region's outbox, inbox and consumer. Idempotent. */
  private async ensureStreams(jsm: JetStreamManager): Promise<void> {
    const { region, peers } = this.opts;
    const outbox: Partial<StreamConfig> & { name: string } = {
      name: outboxStream(region),
      subjects: [`xr.${region}.to.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: nanos(this.opts.outboxMaxAgeMs),
      duplicate_window: nanos(this.opts.duplicateWindowMs),
      placement: { cluster: region, tags: [] },
      num_replicas: 1,
      // Erasing reads with direct gets (`erase`).
      allow_direct: true,
    };
    const inbox: Partial<StreamConfig> & { name: string } = {
      name: inboxStream(region),
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: nanos(this.opts.outboxMaxAgeMs),
      duplicate_window: nanos(this.opts.duplicateWindowMs),
      placement: { cluster: region, tags: [] },
      num_replicas: 1,
      allow_direct: true,
      sources: [
        ...peers.map((peer) => ({
          name: outboxStream(peer),
          filter_subject: `xr.${peer}.to.${region}.>`,
        })),
        // The region's notes to itself (`publishToSelf`).
        { name: outboxStream(region), filter_subject: `xr.${region}.to.${region}.>` },
      ],
    };
    for (const cfg of [outbox, inbox]) {
      try {
        await jsm.streams.info(cfg.name);
        await jsm.streams.update(cfg.name, cfg);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await jsm.streams.add(cfg);
      }
    }
    try {
      await jsm.consumers.info(inbox.name, CONSUMER);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.consumers.add(inbox.name, {
        durable_name: CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        // Room for every gateway of the region to hold MAX_IN_FLIGHT (the server stops
        // delivering past it, across all of them).
        max_ack_pending: MAX_IN_FLIGHT * 4,
        ack_wait: nanos(ACK_WAIT_MS),
      });
    }
  }

  /**
   * Publishes one event to every peer region's subject in this region's outbox and resolves when
   * the outbox has stored all of them (the cross-region leg is then durable). Receivers apply
   * events with the same `key` (the conversation) one at a time, in stream order; events
   * published without one are all applied in order with each other. `item` names the content
   * the event carries, if any, so that `erase` can find it.
   */
  async publish(data: Uint8Array, eventId: string, key?: string, item?: string): Promise<void> {
    const js = this.js;
    if (!js) throw new Error('cross-region link not started');
    await Promise.all(
      this.opts.peers.map((peer) => {
        const h = headers();
        h.set('Chat-Origin', this.opts.region);
        if (key !== undefined) h.set(KEY_HEADER, key);
        if (item !== undefined) h.set(ITEM_HEADER, item);
        const bucket = item === undefined ? NO_ITEM : itemBucket(item);
        return js.publish(outboxSubject(this.opts.region, peer, bucket), data, {
          msgID: publishId(eventId, this.opts.region, peer),
          headers: h,
        });
      }),
    );
  }

  /**
   * Publishes an event for this region itself: stored in its outbox, sourced into its own inbox
   * and applied there like any other region's event (retried until it succeeds). What a gateway
   * must finish later and durably goes this way: an erase the streams refused while the region
   * was cut off (`erase.ts`). Publishing needs only the outbox's own server.
   */
  async publishToSelf(data: Uint8Array, eventId: string, key: string): Promise<void> {
    const js = this.js;
    if (!js) throw new Error('cross-region link not started');
    const h = headers();
    h.set('Chat-Origin', this.opts.region);
    h.set(KEY_HEADER, key);
    const { region } = this.opts;
    await js.publish(outboxSubject(region, region), data, {
      msgID: publishId(eventId, region, region),
      headers: h,
    });
  }

  /**
   * Applies inbox events with `handler` until `close()`: as they arrive, up to MAX_IN_FLIGHT at
   * once, each conversation's (`Chat-Key`) one at a time in stream order (`KeyedApply`). An
   * event is acked only after the handler resolved; a failure is retried in place after
   * RETRY_DELAY_MS, its conversation's later events waiting behind it. Events held longer than
   * the ack wait (waiting, or between attempts) are kept from being redelivered meanwhile, unless
   * they wait behind an attempt that has itself run for longer than the ack wait. An event that
   * opens its conversation (`opts.opensKey`) goes ahead of its key's held events: redelivered,
   * it comes after them.
   */
  async consume(handler: EventHandler, opts: ConsumeOptions = {}): Promise<void> {
    const js = this.js;
    if (!js) throw new Error('cross-region link not started');
    const consumer = await js.consumers.get(inboxStream(this.opts.region), CONSUMER);
    const messages = await consumer.consume({ max_messages: MAX_IN_FLIGHT });
    const applying = new KeyedApply({ maxHeld: MAX_IN_FLIGHT, retryDelayMs: RETRY_DELAY_MS });
    this.applying = applying;
    const heartbeat = setInterval(() => applying.heartbeat(ACK_WAIT_MS), ACK_WAIT_MS / 3);
    heartbeat.unref();
    this.stopConsumer = () => {
      clearInterval(heartbeat);
      messages.stop();
    };
    this.consumeLoop = (async () => {
      for await (const m of messages) {
        await applying.admit();
        const origin = m.headers?.get('Chat-Origin') ?? m.subject.split('.')[1] ?? '';
        const msgId = m.headers?.get('Nats-Msg-Id') ?? '';
        const meta = {
          origin,
          eventId: eventIdOf(msgId),
          seq: m.seq,
          item: m.headers?.get(ITEM_HEADER) || null,
        };
        // Read once: nats.js makes a new view of the payload on each read.
        const data = m.data;
        applying.add({
          key: applyKey(origin, m.headers?.get(KEY_HEADER) ?? ''),
          opensKey: this.opensKey(opts, data, msgId),
          attempt: () => handler(data, meta),
          done: () => this.settle(() => m.ack(), msgId),
          failed: (err, attempt) =>
            this.log.error(
              { err, origin, msgId, attempt },
              'applying a cross-region event failed; will retry',
            ),
          waiting: () => this.settle(() => m.working(), msgId),
          // Redelivered at once, to whichever gateway of the region consumes next.
          abandoned: () => this.settle(() => m.nak(), msgId),
        });
      }
    })();
  }

  /** `opts.opensKey` for one event; one it cannot read is applied (and fails) in arrival order. */
  private opensKey(opts: ConsumeOptions, data: Uint8Array, msgId: string): boolean {
    try {
      return opts.opensKey?.(data) ?? false;
    } catch (err) {
      this.log.warn({ err, msgId }, 'could not classify a cross-region event');
      return false;
    }
  }

  /**
   * Sends an ack, nak or progress for an event. One that cannot be sent (the connection is
   * closing) only means the event is redelivered after the ack wait and applied again, idempotently.
   */
  private settle(send: () => void, msgId: string): void {
    try {
      send();
    } catch (err) {
      this.log.warn({ err, msgId }, 'could not acknowledge a cross-region event; it will be redelivered');
    }
  }

  /**
   * Securely deletes, from this region's outbox and inbox, every event carrying one of `items`
   * published since its `since`; returns how many were deleted. Idempotent: an event another
   * gateway already deleted is skipped.
   *
   * Reads with direct gets only (`allow_direct` streams): creating even an ephemeral consumer
   * needs the JetStream meta group's quorum, which a two-region deployment lacks while one region
   * is cut off, and a delete must work then too. The first sequence at `since` is found by a
   * binary search on the messages' times; each bucket is then walked with `next_by_subj`.
   */
  async erase(items: readonly ErasableItem[]): Promise<number> {
    const nc = this.nc;
    if (!nc) throw new Error('cross-region link not started');
    if (items.length === 0) return 0;
    const jsm = await erasingManager(nc);
    const want = new Set(items.map((i) => i.item));
    const since = Math.min(...items.map((i) => i.since));
    const buckets = [...new Set(items.map((i) => itemBucket(i.item)))];
    const { region } = this.opts;
    const whole = buckets.length > MAX_BUCKET_SCANS;
    const scans: [string, string, string[]][] = [
      [
        outboxStream(region),
        `xr.${region}.to.>`,
        whole ? [`xr.${region}.to.>`] : buckets.map((b) => `xr.${region}.to.*.${b}`),
      ],
      [
        inboxStream(region),
        `xr.*.to.${region}.>`,
        whole ? [`xr.*.to.${region}.>`] : buckets.map((b) => `xr.*.to.${region}.${b}`),
      ],
    ];
    let erased = 0;
    for (const [stream, all, filters] of scans) {
      const from = await firstSeqAt(jsm, stream, all, since);
      if (from === null) continue;
      for (const filter of filters) {
        for (let seq = from; ; ) {
          const m = await directNext(jsm, stream, filter, seq);
          if (!m) break;
          const item = m.header?.get(ITEM_HEADER);
          if (item && want.has(item) && (await deleteIfPresent(jsm, stream, m.seq))) erased++;
          seq = m.seq + 1;
        }
      }
    }
    return erased;
  }

  /** Securely deletes one event of this region's inbox (an event applied over deleted content). */
  async eraseInboxEvent(seq: number): Promise<void> {
    const nc = this.nc;
    if (!nc) throw new Error('cross-region link not started');
    const jsm = await erasingManager(nc);
    await deleteIfPresent(jsm, inboxStream(this.opts.region), seq);
  }

  /**
   * Reads the replication backlog from JetStream: this region's inbox consumer, what each peer's
   * outbox holds for this region that its inbox has not sourced, and the same the other way
   * (`unsourced`, not the sources' `lag`, which nats-server 2.9 can leave stale). A peer whose
   * inbox does not answer within `timeoutMs` is unreachable; its figures are then unknown (null).
   */
  async backlog(timeoutMs = 2000): Promise<CrossRegionBacklog> {
    const nc = this.nc;
    if (!nc) throw new Error('cross-region link not started');
    const jsm = await nc.jetstreamManager({ timeout: timeoutMs, checkAPI: false });
    const { region, peers } = this.opts;
    const [consumer, inbox, ...perPeer] = await Promise.allSettled([
      jsm.consumers.info(inboxStream(region), CONSUMER),
      jsm.streams.info(inboxStream(region)),
      ...peers.flatMap((peer) => [
        jsm.streams.info(inboxStream(peer)),
        unsourced(jsm, peer, region),
        unsourced(jsm, region, peer),
      ]),
    ]);
    const peerInboxes = peers.map((_, i) => perPeer[3 * i]);
    const figure = (r: PromiseSettledResult<unknown> | undefined): number | null =>
      r?.status === 'fulfilled' && typeof r.value === 'number' ? r.value : null;
    const inboxPending =
      consumer?.status === 'fulfilled' ? consumer.value.num_pending + consumer.value.num_ack_pending : null;
    const ourSources = inbox?.status === 'fulfilled' ? (inbox.value.sources ?? []) : [];
    return {
      region,
      inboxPending,
      peers: peers.map((peer, i) => {
        const theirs = peerInboxes[i];
        const inSource = ourSources.find((src) => src.name === outboxStream(peer));
        const errors = [
          theirs?.status === 'rejected' ? `inbox of ${peer}: ${errorText(theirs.reason)}` : null,
          inSource?.error ? `sourcing from ${peer}: ${inSource.error.description}` : null,
        ].filter((e): e is string => e !== null);
        return {
          region: peer,
          reachable: theirs?.status === 'fulfilled',
          inbound: inSource ? figure(perPeer[3 * i + 1]) : null,
          inboundIdleMs: inSource && inSource.active >= 0 ? Math.round(inSource.active / 1e6) : null,
          outbound: theirs?.status === 'fulfilled' ? figure(perPeer[3 * i + 2]) : null,
          error: errors.length > 0 ? errors.join('; ') : null,
        };
      }),
    };
  }

  async ping(): Promise<void> {
    if (!this.nc) throw new Error('cross-region link not started');
    await this.nc.flush();
  }

  async close(): Promise<void> {
    this.stopConsumer?.();
    // Events being applied get a moment to finish (and be acked); the others are handed back
    // (nak) to whichever gateway consumes next. Shutdown must not wait on a stuck one.
    await this.applying?.stop(CLOSE_GRACE_MS);
    if (this.consumeLoop)
      await settleWithin(
        this.consumeLoop.catch(() => {}),
        CLOSE_GRACE_MS,
        undefined,
      );
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    if (nc) await drainNats(nc);
  }
}

/**
 * A JetStream manager for erasing: without nats.js's API check, an account-info request the meta
 * leader answers — which a two-region deployment has none of while one region is cut off. The
 * requests erasing makes (stream info, direct get, message delete) are the stream's own server's.
 */
function erasingManager(nc: NatsConnection): Promise<JetStreamManager> {
  return nc.jetstreamManager({ checkAPI: false });
}

/** The part of nats.js's direct-get API `erase` uses. */
interface DirectGet {
  getMessage(stream: string, query: { seq: number; next_by_subj: string }): Promise<StoredMsg>;
}

/** The first message at or after `seq` whose subject matches `filter`; null past the end. */
async function directNext(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  seq: number,
): Promise<StoredMsg | null> {
  // The manager has `direct` at runtime; nats.js 2.x leaves it out of the interface's type.
  const direct = (jsm as JetStreamManager & { direct: DirectGet }).direct;
  try {
    return await direct.getMessage(stream, { seq, next_by_subj: filter });
  } catch (err) {
    if (isNotFound(err) || (err as { code?: string }).code === '404') return null;
    throw err;
  }
}

/**
 * The first sequence of `stream` stored at or after `since` (ms), by binary search on message
 * times (which only grow along the stream); null when every message is older.
 */
async function firstSeqAt(
  jsm: JetStreamManager,
  stream: string,
  all: string,
  since: number,
): Promise<number | null> {
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0) return null;
  let lo = state.first_seq;
  let hi = state.last_seq + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const m = await directNext(jsm, stream, all, mid);
    if (!m) hi = mid;
    else if (m.time.getTime() < since) lo = m.seq + 1;
    else hi = mid;
  }
  return lo > state.last_seq ? null : lo;
}

/** Deletes a stream message, overwriting its bytes; false when it was gone already. */
async function deleteIfPresent(jsm: JetStreamManager, stream: string, seq: number): Promise<boolean> {
  try {
    return await jsm.streams.deleteMessage(stream, seq, true);
  } catch (err) {
    if (isNotFound(err) || (err as { api_error?: { err_code?: number } }).api_error?.err_code === 10057)
      return false;
    throw err;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isNotFound(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string; message?: string };
  return (
    e.api_error?.err_code === 10059 ||
    e.api_error?.err_code === 10014 ||
    e.code === '404' ||
    /not found/i.test(e.message ?? '')
  );
}
