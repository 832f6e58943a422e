/**
 * Two regions on real services for cross-region integration tests: a NATS supercluster, a Redis
 * per region, and a keyspace per region on the shared Cassandra node, with one gateway each.
 * `open` connects a test client and waits for `synced`; `bodiesIn` reads every table that holds
 * message text or copies of it (to prove a deleted body is gone), `everyRow` every row of every
 * table (with `holds`: is a deleted text or file anywhere?); `close` stops everything and drops
 * the keyspaces.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'cassandra-driver';
import { startGateway } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { silentLogger } from '../../src/util/log.ts';
import { getSharedCassandra } from './cassandra.ts';
import { TestClient } from './client.ts';
import { TEST_SECRET, token } from './gateway.ts';
import { startNatsSupercluster } from './nats.ts';
import { type RedisHandle, startRedis } from './redis.ts';

export const TWO_REGIONS = ['us-east', 'eu-west'] as const;
export type TwoRegion = (typeof TWO_REGIONS)[number];

/** Tables whose `body` column holds message text or a copy of it. */
const BODY_TABLES = ['messages', 'offline_queue', 'late_messages'] as const;

export interface TwoRegions {
  gateways: Map<TwoRegion, Gateway>;
  keyspaces: Record<TwoRegion, string>;
  /** A CQL session on the shared node, for reading the regions' keyspaces directly. */
  cql: Client;
  open(region: TwoRegion, user: string, opts?: { device?: string }): Promise<TestClient>;
  bodiesIn(region: TwoRegion): Promise<string[]>;
  /** Every row of every table of the region's keyspace, for "is it anywhere?" checks. */
  everyRow(region: TwoRegion): Promise<Array<{ table: string; row: Record<string, unknown> }>>;
  /**
   * Whether any file of the region's JetStream store (its replication outbox and inbox) holds
   * `needle`: read from disk, so an event deleted without its bytes being overwritten counts.
   */
  streamFilesHold(region: TwoRegion, needle: Buffer): Promise<boolean>;
  /** Stops the region's NATS server (its streams are kept) — the region cut off — and starts it again. */
  stopNats(region: TwoRegion): Promise<void>;
  /** The client URL of a region's NATS server. */
  natsUrl(region: TwoRegion): string;
  startNats(region: TwoRegion): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts both regions. `keyspacePrefix` keeps concurrent test files apart (a random tag is added);
 * `pins` sets users' home regions; `config` adds top-level config sections (e.g. `api`).
 */
export async function startTwoRegions(opts: {
  keyspacePrefix: string;
  pins: Record<string, TwoRegion>;
  config?: Record<string, unknown>;
}): Promise<TwoRegions> {
  const tag = randomBytes(3).toString('hex');
  const cassandra = await getSharedCassandra();
  const sc = await startNatsSupercluster([...TWO_REGIONS]);
  const redis = new Map<TwoRegion, RedisHandle>();
  for (const r of TWO_REGIONS) redis.set(r, await startRedis());
  const keyspaces = Object.fromEntries(
    TWO_REGIONS.map((r) => [r, `${opts.keyspacePrefix}_${r.replace('-', '_')}_${tag}`]),
  ) as Record<TwoRegion, string>;
  const config = parseConfig({
    regions: TWO_REGIONS.map((name, i) => ({
      name,
      id: i + 1,
      gateway: { host: '127.0.0.1', port: 0 },
      cassandra: {
        contactPoints: cassandra.contactPoints,
        port: cassandra.port,
        localDataCenter: cassandra.localDataCenter,
        keyspace: keyspaces[name],
      },
      redis: { url: redis.get(name)!.url },
      nats: { servers: [sc.urls[name]!] },
    })),
    directory: { pins: opts.pins },
    auth: { secret: TEST_SECRET },
    // Short presence and refresh periods so a test sees a disconnect or a region's presence soon.
    presence: { ttlMs: 3000, heartbeatMs: 500 },
    replication: { presenceRefreshMs: 500 },
    ...opts.config,
  });
  const gateways = new Map<TwoRegion, Gateway>();
  for (const region of TWO_REGIONS) {
    const gw = await startGateway({
      config,
      region: config.regions.find((r) => r.name === region)!,
      workerId: 0,
      port: 0,
      log: silentLogger,
    });
    gateways.set(region, gw);
  }
  const cql = new Client({
    contactPoints: cassandra.contactPoints,
    protocolOptions: { port: cassandra.port },
    localDataCenter: cassandra.localDataCenter,
  });
  const clients: TestClient[] = [];
  return {
    gateways,
    keyspaces,
    cql,
    async open(region, user, clientOpts = {}) {
      const c = await TestClient.connect(gateways.get(region)!.url, await token(user), clientOpts);
      clients.push(c);
      await c.waitFor((f) => f.op === 'synced', 30_000);
      return c;
    },
    async bodiesIn(region) {
      const out: string[] = [];
      for (const table of BODY_TABLES) {
        const rs = await cql.execute(`SELECT body FROM ${keyspaces[region]}.${table}`);
        for (const row of rs.rows) out.push(String(row.get('body')));
      }
      return out;
    },
    async everyRow(region) {
      const ks = keyspaces[region];
      const tables = await cql.execute(
        'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?',
        [ks],
        { prepare: true },
      );
      const out: Array<{ table: string; row: Record<string, unknown> }> = [];
      for (const t of tables.rows) {
        const table = String(t.get('table_name'));
        // Paged: the offline queue and the chunks table can outgrow one page.
        let pageState: string | undefined;
        do {
          const rs = await cql.execute(`SELECT * FROM ${ks}.${table}`, [], { fetchSize: 500, pageState });
          for (const row of rs.rows) {
            const record: Record<string, unknown> = {};
            for (const col of rs.columns) record[col.name] = row.get(col.name);
            out.push({ table, row: record });
          }
          pageState = rs.pageState ?? undefined;
        } while (pageState);
      }
      return out;
    },
    streamFilesHold: (region, needle) => filesHold(sc.storeDir(region), needle),
    stopNats: (region) => sc.stopRegion(region),
    natsUrl: (region) => sc.urls[region]!,
    startNats: (region) => sc.startRegion(region),
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      for (const gw of gateways.values()) await gw.stop();
      await sc.close();
      for (const r of redis.values()) await r.close();
      for (const ks of Object.values(keyspaces)) await cql.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
      await cql.shutdown();
      await cassandra.close();
    },
  };
}

/** Whether any file under `dir` holds `needle` (as bytes). */
async function filesHold(dir: string, needle: Buffer): Promise<boolean> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const bytes = await readFile(join(entry.parentPath, entry.name)).catch(() => null);
    if (bytes?.includes(needle)) return true;
  }
  return false;
}

/**
 * Whether `needle` occurs in a stored value: text (UTF-8), blobs, and the collections and
 * JSON-in-text columns that hold them. Other driver types (ids, timestamps) compare as text.
 */
export function holds(value: unknown, needle: Buffer): boolean {
  if (value === null || value === undefined) return false;
  if (Buffer.isBuffer(value)) return value.includes(needle);
  if (typeof value === 'string') return Buffer.from(value, 'utf8').includes(needle);
  if (Array.isArray(value) || value instanceof Set) return [...value].some((v) => holds(v, needle));
  if (value instanceof Map) return [...value].some(([k, v]) => holds(k, needle) || holds(v, needle));
  return Buffer.from(String(value), 'utf8').includes(needle);
}
