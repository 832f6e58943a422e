/**
 * Cross-region presence. Wraps the region's own presence (Redis) and adds what other regions
 * announce over the NATS supercluster, kept in memory per gateway so lookups stay local.
 *
 * Each gateway announces, on `xp.<region>.<gatewayId>`, the users it holds: the first/last
 * connection of a user at once (`on` / `off`), and its whole user list every `refreshMs`
 * (`snap`). A remote gateway's entry expires `ttlMs` after its last announcement, so the users
 * of a region that went dark go offline everywhere within the TTL. Core NATS is at-most-once;
 * a lost `on`/`off` is corrected by the next snapshot.
 */
import type { NatsConnection } from 'nats';
import { connectNats, type NatsTarget } from '../services/nats.ts';
import { drainNats } from '../util/close.ts';
import type { Logger } from '../util/log.ts';
import { ListenerSet } from './listeners.ts';
import type {
  ConnectionRef,
  GatewayLostListener,
  Presence,
  PresenceInfo,
  PresenceListener,
  Whereabouts,
} from './types.ts';

/** `servers`, and the credentials and TLS of the region's `nats` block (services/nats.ts). */
export interface GlobalPresenceOptions extends NatsTarget {
  region: string;
  gatewayId: string;
  ttlMs: number;
  refreshMs: number;
  /** Subscription errors and malformed announcements (both otherwise harmless: see below). */
  log: Logger;
}

type Announcement =
  | { t: 'on' | 'off'; users: string[]; ttlMs: number }
  | { t: 'snap'; users: string[]; ttlMs: number };

interface RemoteGateway {
  region: string;
  users: Set<string>;
  expiresAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class GlobalPresence implements Presence {
  private nc: NatsConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** This gateway's users → number of their connections here. */
  private readonly local = new Map<string, number>();
  private readonly remote = new Map<string, RemoteGateway>();
  /** Users currently online in some remote region, as last announced to listeners. */
  private remoteOnline = new Set<string>();
  private readonly listeners = new ListenerSet();
  private unsubscribeInner: (() => void) | null = null;

  constructor(
    private readonly inner: Presence,
    private readonly opts: GlobalPresenceOptions,
  ) {}

  async start(): Promise<void> {
    await this.inner.start();
    this.unsubscribeInner = this.inner.subscribe((info) => {
      // A local change is only news if no other region keeps the user online.
      if (info.status === 'offline' && this.remoteOnline.has(info.userId)) return;
      this.listeners.emit(info);
    });
    this.nc = await connectNats(
      this.opts,
      { name: `presence-${this.opts.gatewayId}`, maxReconnectAttempts: -1, reconnectTimeWait: 500 },
      'cross-region presence',
    );
    this.nc.subscribe('xp.>', {
      callback: (err, msg) => {
        if (err) {
          this.opts.log.error({ err }, 'presence announcement subscription error');
          return;
        }
        const [, region, gatewayId] = msg.subject.split('.');
        if (!region || !gatewayId || region === this.opts.region) return;
        try {
          this.onAnnouncement(region, gatewayId, JSON.parse(decoder.decode(msg.data)) as Announcement);
        } catch (parseErr) {
          // A malformed announcement from a peer is ignored; its next snapshot replaces it.
          this.opts.log.warn({ err: parseErr, region, gatewayId }, 'malformed presence announcement ignored');
        }
      },
    });
    this.timer = setInterval(() => {
      this.announce({ t: 'snap', users: [...this.local.keys()], ttlMs: this.opts.ttlMs });
      this.expire();
    }, this.opts.refreshMs);
    this.timer.unref();
    this.announce({ t: 'snap', users: [...this.local.keys()], ttlMs: this.opts.ttlMs });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribeInner?.();
    if (this.nc) {
      // Tell the others right away instead of letting them wait for the TTL.
      this.announce({ t: 'snap', users: [], ttlMs: this.opts.ttlMs });
      await drainNats(this.nc);
    }
    this.nc = null;
    this.listeners.clear();
    await this.inner.close();
  }

  async ping(): Promise<void> {
    await this.inner.ping();
    if (!this.nc) throw new Error('global presence not started');
    await this.nc.flush();
  }

  async markOnline(userId: string, conn: ConnectionRef): Promise<void> {
    await this.inner.markOnline(userId, conn);
    const n = (this.local.get(userId) ?? 0) + 1;
    this.local.set(userId, n);
    if (n === 1) this.announce({ t: 'on', users: [userId], ttlMs: this.opts.ttlMs });
  }

  async markOffline(userId: string, connectionId: string): Promise<void> {
    await this.inner.markOffline(userId, connectionId);
    const n = (this.local.get(userId) ?? 0) - 1;
    if (n > 0) this.local.set(userId, n);
    else if (this.local.delete(userId)) this.announce({ t: 'off', users: [userId], ttlMs: this.opts.ttlMs });
  }

  setAway(userId: string, connectionId: string, away: boolean): Promise<void> {
    return this.inner.setAway(userId, connectionId, away);
  }

  heartbeat(gatewayId: string): Promise<void> {
    return this.inner.heartbeat(gatewayId);
  }

  async getPresence(userIds: readonly string[]): Promise<Map<string, PresenceInfo>> {
    const infos = await this.inner.getPresence(userIds);
    this.expire();
    for (const userId of userIds) {
      const info = infos.get(userId);
      const remote = this.remoteGateways(userId);
      if (remote.length === 0 || !info) continue;
      infos.set(userId, {
        ...info,
        status: info.status === 'offline' ? 'online' : info.status,
        devices: info.devices + remote.length,
        gateways: [...info.gateways, ...remote],
      });
    }
    return infos;
  }

  async onlineUsers(userIds: readonly string[]): Promise<Set<string>> {
    const online = await this.inner.onlineUsers(userIds);
    this.expire();
    for (const u of userIds) if (this.remoteGateways(u).length > 0) online.add(u);
    return online;
  }

  /** Another region's users count as elsewhere; routing only ever addresses this region's gateways. */
  async locate(userIds: readonly string[], fromGatewayId: string): Promise<Whereabouts> {
    const where = await this.inner.locate(userIds, fromGatewayId);
    this.expire();
    for (const u of userIds) if (this.remoteGateways(u).length > 0) where.elsewhere.add(u);
    return where;
  }

  subscribe(listener: PresenceListener): () => void {
    return this.listeners.add(listener);
  }

  /** Gateways of this region only: another region's gateways never fan out to our sockets. */
  subscribeGatewayLost(listener: GatewayLostListener): () => void {
    return this.inner.subscribeGatewayLost(listener);
  }

  /** Remote gateways (as `region/gatewayId`) announcing the user. */
  private remoteGateways(userId: string): string[] {
    const out: string[] = [];
    for (const [key, gw] of this.remote) if (gw.users.has(userId)) out.push(key);
    return out;
  }

  private announce(a: Announcement): void {
    if (!this.nc || this.nc.isClosed()) return;
    this.nc.publish(`xp.${this.opts.region}.${this.opts.gatewayId}`, encoder.encode(JSON.stringify(a)));
  }

  private onAnnouncement(region: string, gatewayId: string, a: Announcement): void {
    const key = `${region}/${gatewayId}`;
    let gw = this.remote.get(key);
    if (!gw) {
      gw = { region, users: new Set(), expiresAt: 0 };
      this.remote.set(key, gw);
    }
    gw.expiresAt = Date.now() + a.ttlMs;
    if (a.t === 'snap') gw.users = new Set(a.users);
    else if (a.t === 'on') for (const u of a.users) gw.users.add(u);
    else for (const u of a.users) gw.users.delete(u);
    this.recompute();
  }

  private expire(): void {
    const now = Date.now();
    let changed = false;
    for (const [key, gw] of this.remote) {
      if (gw.expiresAt <= now) {
        this.remote.delete(key);
        changed = true;
      }
    }
    if (changed) this.recompute();
  }

  /** Emits events for users whose remote online state flipped, unless local presence decides. */
  private recompute(): void {
    const now = new Set<string>();
    for (const gw of this.remote.values()) for (const u of gw.users) now.add(u);
    const before = this.remoteOnline;
    this.remoteOnline = now;
    const flipped = [...now].filter((u) => !before.has(u)).concat([...before].filter((u) => !now.has(u)));
    if (flipped.length === 0 || this.listeners.size === 0) return;
    void this.inner.getPresence(flipped).then(
      (infos) => {
        for (const userId of flipped) {
          const local = infos.get(userId);
          if (local && local.status !== 'offline') continue;
          const remote = this.remoteGateways(userId);
          this.listeners.emit({
            userId,
            status: remote.length > 0 ? 'online' : 'offline',
            lastSeen: remote.length > 0 ? Date.now() : (local?.lastSeen ?? Date.now()),
            devices: remote.length,
            gateways: remote,
          });
        }
      },
      () => {},
    );
  }
}
