/**
 * Continuous chat traffic through the SDK: 12 users homed round-robin in the three regions (three
 * of them with a second device that starts in another region), 6 DMs and 5 groups that cross
 * regions, sends at a fixed total rate to random conversations. Every client uses the SDK's
 * defaults (backoff, pings, timeouts), so the suite measures what an app would see.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { ChatClient, directConversationId, type WebSocketConstructor } from '../../src/client/index.ts';
import { eventually } from '../../test/helpers/eventually.ts';
import { token } from '../../test/helpers/gateway.ts';
import type { Ledger } from './ledger.ts';
import { REGIONS, type Region } from './topology.ts';

const USERS = 12;
/** Users (by index) with a second device, which lists the next region's gateway first. */
const SECOND_DEVICE = [0, 1, 2];
/** Pairs that cross regions and pairs within one (6, 9 / 7, 10 / 8, 11 share a home). */
const DMS: [number, number][] = [
  [0, 1],
  [2, 3],
  [4, 5],
  [6, 9],
  [7, 10],
  [8, 11],
];
const GROUPS: number[][] = [
  [0, 1, 2],
  [3, 4, 5, 6],
  [7, 8, 9, 10, 11],
  [0, 4, 8],
  [1, 5, 9, 2, 6],
];

export function userIds(prefix: string): string[] {
  return Array.from({ length: USERS }, (_, i) => `${prefix}u${i}`);
}

export function homeOf(index: number): Region {
  return REGIONS[index % REGIONS.length]!;
}

export interface Device {
  key: string;
  user: string;
  home: Region;
  client: ChatClient;
  /** Region of the gateway this device is connected to now, null while it is not. */
  region: Region | null;
  /** Its open WebSockets (one, or none between sessions), to starve one on purpose. */
  sockets: Set<WebSocket>;
  errors: Map<string, number>;
  /** Connection changes (`connected` to a region, `reconnecting` with the close code), to explain a loss. */
  connections: { at: number; state: string; region: string | null; closeCode?: number }[];
}

/** A `WebSocket` class that remembers its instances in `sockets`. */
function trackedWebSocket(sockets: Set<WebSocket>): WebSocketConstructor {
  return class TrackedWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.add(this);
      this.once('close', () => sockets.delete(this));
    }
  };
}

/** mulberry32: a seeded generator, so two runs send the same pattern. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Fleet {
  readonly devices: Device[] = [];
  /** conversation id → member user ids. */
  readonly members = new Map<string, Set<string>>();
  private readonly convsOf = new Map<string, string[]>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private seq = 0;
  private readonly random = seeded(11);

  constructor(
    private readonly prefix: string,
    private readonly urls: Record<Region, string>,
    private readonly ledger: Ledger,
  ) {}

  /** Connects every device and creates the conversations; resolves once every member sees them. */
  async setUp(): Promise<void> {
    const users = userIds(this.prefix);
    for (const [i, user] of users.entries()) {
      this.addDevice(user, homeOf(i), 'a', homeOf(i));
      if (SECOND_DEVICE.includes(i)) this.addDevice(user, homeOf(i), 'b', homeOf(i + 1));
    }
    await Promise.all(this.devices.map((d) => d.client.connect()));
    const first = (user: string) => this.devices.find((d) => d.user === user)!;
    for (const [x, y] of DMS) {
      const [a, b] = [users[x]!, users[y]!];
      const conv = await first(a).client.openDirect(b);
      if (conv.id !== directConversationId(a, b)) throw new Error(`openDirect gave ${conv.id}`);
      this.addConversation(conv.id, [a, b]);
    }
    for (const [g, idx] of GROUPS.entries()) {
      const [creator, ...rest] = idx.map((i) => users[i]!);
      const conv = await first(creator!).client.createGroup(`faults ${g}`, rest);
      this.addConversation(conv.id, [creator!, ...rest]);
    }
    // A group created in one region reaches the others by replication; a send before that is refused.
    await eventually(
      async () => {
        for (const d of this.devices) {
          const known = new Set((await d.client.listConversations()).map((c) => c.id));
          const missing = (this.convsOf.get(d.user) ?? []).filter((c) => !known.has(c));
          if (missing.length > 0) throw new Error(`${d.key} does not see ${missing.join(', ')} yet`);
        }
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }

  private addDevice(user: string, home: Region, label: string, first: Region): void {
    const sockets = new Set<WebSocket>();
    // The failover list: the device's own region first, then the others in a fixed order.
    const urls = [first, ...REGIONS.filter((r) => r !== first)].map((r) => this.urls[r]);
    const client = new ChatClient({
      urls,
      token: () => token(user),
      device: label,
      WebSocket: trackedWebSocket(sockets),
    });
    const device: Device = {
      key: `${user}/${label}`,
      user,
      home,
      client,
      region: null,
      sockets,
      errors: new Map(),
      connections: [],
    };
    client.on('state', (s) => {
      device.region = s.state === 'connected' ? ((s.region as Region | null) ?? null) : null;
      if (s.state === 'connected' || s.state === 'reconnecting') {
        device.connections.push({
          at: Date.now(),
          state: s.state,
          region: s.region,
          ...(s.closeCode !== undefined ? { closeCode: s.closeCode } : {}),
        });
      }
    });
    client.on('message', (m) => this.ledger.delivered(device.key, m.id));
    client.on('error', (e) => device.errors.set(e.code, (device.errors.get(e.code) ?? 0) + 1));
    this.devices.push(device);
  }

  private addConversation(id: string, users: string[]): void {
    this.members.set(id, new Set(users));
    for (const u of users) this.convsOf.set(u, [...(this.convsOf.get(u) ?? []), id]);
  }

  /** Starts sending `perSecond` messages a second in total, each from a random device. */
  start(perSecond: number): void {
    this.timer = setInterval(() => this.sendOne(), 1000 / perSecond);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sendOne(): void {
    const d = this.devices[Math.floor(this.random() * this.devices.length)]!;
    const convs = this.convsOf.get(d.user)!;
    const conversationId = convs[Math.floor(this.random() * convs.length)]!;
    const body = `${d.key} #${++this.seq}`;
    d.client.send(conversationId, body).then(
      (info) =>
        this.ledger.ack({
          id: info.messageId,
          conversationId: info.conversationId,
          from: d.key,
          at: Date.now(),
          region: d.region,
          duplicate: info.duplicate,
        }),
      (err: unknown) => {
        const code =
          typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : String(err);
        this.ledger.rejected.push({ from: d.key, code, at: Date.now() });
      },
    );
  }

  /** Waits (up to `timeoutMs`) until every outbox is empty; returns how many sends are still queued. */
  async drain(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const queued = () => this.devices.reduce((n, d) => n + d.client.outboxSize, 0);
    while (queued() > 0 && Date.now() < deadline) await sleep(250);
    return queued();
  }

  /**
   * An explicit `sync()` on every device (after it is connected again), repeated while the server
   * says the replay was truncated. Returns the devices whose sync failed, with why.
   */
  async syncAll(timeoutMs: number): Promise<Record<string, string>> {
    const failed: Record<string, string> = {};
    await Promise.all(
      this.devices.map(async (d) => {
        try {
          await Promise.race([
            d.client.connect(),
            sleep(timeoutMs).then(() => Promise.reject(new Error('not connected'))),
          ]);
          for (let i = 0; i < 20; i++) if (!(await d.client.sync()).truncated) break;
        } catch (err) {
          failed[d.key] = String(err);
        }
      }),
    );
    return failed;
  }

  async close(): Promise<void> {
    this.stop();
    await Promise.allSettled(this.devices.map((d) => d.client.close()));
  }
}
