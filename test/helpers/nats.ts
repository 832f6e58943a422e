import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.ts';
import { freePorts } from './ports.ts';
import { removeOnExit, type ServiceProcess, startProcess } from './proc.ts';
import type { TestCerts } from './tls-certs.ts';

export interface NatsHandle {
  url: string;
  port: number;
  pid: number;
  close(): Promise<void>;
}

interface ServerSpec {
  name: string;
  dir: string;
  port: number;
  monitorPort: number;
  jetstream: boolean;
  /** Cluster and gateway blocks, for a supercluster member. */
  cluster?: { name: string; port: number; gatewayPort: number; gateways: Record<string, number> };
  security?: NatsSecurity;
}

/** What a client must present (docs/operations.md, "Credentials and TLS"). */
export interface NatsSecurity {
  /** TLS only, with these certificates; `verify`: clients need a certificate from the test CA. */
  tls?: TestCerts;
  verify?: boolean;
  /** Users by password, and users by nkey (public keys, `U…`). */
  users?: { user: string; password: string }[];
  nkeys?: string[];
  /** A single token instead (the server cannot take both a token and users). */
  token?: string;
  /**
   * Decentralized auth (JWT) instead of users: the operator's JWT and its accounts' JWTs by
   * public key; clients present a user JWT signed by an account, from a `.creds` file.
   */
  operator?: { jwt: string; accounts: Record<string, string> };
}

/** The `tls` and `authorization` blocks for `sec`. */
function securityConfig(sec: NatsSecurity): string[] {
  const q = JSON.stringify;
  const lines: string[] = [];
  if (sec.tls) {
    const t = sec.tls;
    lines.push(
      `tls { cert_file: ${q(t.serverCert)}, key_file: ${q(t.serverKey)}, ca_file: ${q(t.ca)}, verify: ${sec.verify === true}, timeout: 2 }`,
    );
  }
  if (sec.token !== undefined) lines.push(`authorization { token: ${q(sec.token)} }`);
  const users = [
    ...(sec.users ?? []).map((u) => `{ user: ${q(u.user)}, password: ${q(u.password)} }`),
    ...(sec.nkeys ?? []).map((k) => `{ nkey: ${q(k)} }`),
  ];
  if (users.length > 0) lines.push(`authorization { users: [${users.join(', ')}] }`);
  if (sec.operator) {
    const preload = Object.entries(sec.operator.accounts).map(([pub, jwt]) => `${pub}: ${q(jwt)}`);
    lines.push(
      `operator: ${q(sec.operator.jwt)}`,
      'resolver: MEMORY',
      `resolver_preload: { ${preload.join(', ')} }`,
    );
  }
  return lines;
}

/** nats-server config text; JSON strings are valid quoted strings in its config format. */
function natsConfig(s: ServerSpec): string {
  const q = JSON.stringify;
  const lines = [
    `server_name: ${q(s.name)}`,
    `listen: ${q(`127.0.0.1:${s.port}`)}`,
    // The monitoring port gives a readiness check (/healthz) that also covers JetStream.
    `http: ${q(`127.0.0.1:${s.monitorPort}`)}`,
  ];
  if (s.jetstream) lines.push(`jetstream { store_dir: ${q(join(s.dir, 'jetstream'))} }`);
  if (s.security) lines.push(...securityConfig(s.security));
  const c = s.cluster;
  if (c) {
    const self = `nats-route://127.0.0.1:${c.port}`;
    // A one-server cluster still needs a route (to itself), or JetStream refuses to start.
    lines.push(`cluster { name: ${q(c.name)}, listen: ${q(`127.0.0.1:${c.port}`)}, routes: [${q(self)}] }`);
    const gws = Object.entries(c.gateways)
      .filter(([name]) => name !== c.name)
      .map(([name, port]) => `{ name: ${q(name)}, urls: [${q(`nats://127.0.0.1:${port}`)}] }`);
    lines.push(
      `gateway { name: ${q(c.name)}, listen: ${q(`127.0.0.1:${c.gatewayPort}`)}, gateways: [${gws.join(', ')}] }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Starts one server from `spec` and waits until /healthz is ok (and gateways are up, if any). */
async function launch(spec: ServerSpec): Promise<ServiceProcess> {
  const conf = join(spec.dir, `${spec.name}.conf`);
  await writeFile(conf, natsConfig(spec));
  const proc = startProcess('nats-server', ['-c', conf], {
    cwd: spec.dir,
    logFile: join(spec.dir, `${spec.name}.log`),
  });
  const mon = `http://127.0.0.1:${spec.monitorPort}`;
  try {
    await eventually(
      async () => {
        const exited = proc.exitReason();
        if (exited) throw new Error(`nats-server ${spec.name} ${exited}`);
        await getJson(`${mon}/healthz`);
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  } catch (err) {
    // The failed /healthz polls each log a warning; leave them out of the error.
    const tailText = proc
      .logTail(200)
      .split('\n')
      .filter((l) => !l.includes('Healthcheck failed'))
      .slice(-30)
      .join('\n');
    await proc.stop();
    throw new Error(`${String(err)}\n${tailText}`);
  }
  return proc;
}

/**
 * Starts a throwaway `nats-server` on a free loopback port, with JetStream storing into its temp
 * dir when `jetstream` is set. close() stops it and removes the dir.
 */
export async function startNats(
  opts: { jetstream?: boolean; security?: NatsSecurity } = {},
): Promise<NatsHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'nats-'));
  const keepDir = removeOnExit(dir);
  const [port, monitorPort] = (await freePorts(2)) as [number, number];
  try {
    const proc = await launch({
      name: `test-${port}`,
      dir,
      port,
      monitorPort,
      jetstream: !!opts.jetstream,
      ...(opts.security ? { security: opts.security } : {}),
    });
    const close = async () => {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
      keepDir();
    };
    const scheme = opts.security?.tls ? 'tls' : 'nats';
    return { url: `${scheme}://127.0.0.1:${port}`, port, pid: proc.pid, close };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    keepDir();
    throw err;
  }
}

export interface NatsRegionServer {
  url: string;
  port: number;
  clusterPort: number;
  gatewayPort: number;
  monitorPort: number;
}

export interface NatsSupercluster {
  /** Client URL per region. */
  urls: Record<string, string>;
  servers: Record<string, NatsRegionServer>;
  /** The directory of a region's JetStream store (stream files, for "is it on disk?" checks). */
  storeDir(region: string): string;
  /** Stops one region's server (a region outage); its JetStream store is kept. */
  stopRegion(region: string): Promise<void>;
  /** Restarts a stopped region on the same ports and store, and waits for its gateways. */
  startRegion(region: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * One JetStream-enabled `nats-server` per region, each its own cluster (named after the region),
 * joined by gateways on loopback. Resolves once every server is healthy and has outbound
 * gateways to all other regions, so cross-region traffic flows right away.
 */
export async function startNatsSupercluster(
  regions: string[],
  opts: {
    /** Fixed ports per region (port, monitorPort, clusterPort, gatewayPort); default free ones. */
    ports?: Record<string, [number, number, number, number]>;
    /** What every server requires of clients (routes and gateways between servers stay plain). */
    security?: NatsSecurity;
  } = {},
): Promise<NatsSupercluster> {
  if (new Set(regions).size !== regions.length || regions.length === 0) {
    throw new Error(`startNatsSupercluster: need distinct region names, got ${regions.join(',')}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'nats-sc-'));
  const keepDir = removeOnExit(dir);
  const fixed = opts.ports;
  const ports = fixed
    ? regions.flatMap((r) => fixed[r] ?? [0, 0, 0, 0])
    : await freePorts(regions.length * 4);
  const specs: Record<string, ServerSpec> = {};
  const gateways: Record<string, number> = {};
  for (const [i, region] of regions.entries()) {
    // Each server needs its own directory: a shared JetStream store corrupts the meta group.
    const serverDir = join(dir, region);
    await mkdir(serverDir);
    const [port, monitorPort, clusterPort, gatewayPort] = ports.slice(i * 4, i * 4 + 4) as number[];
    gateways[region] = gatewayPort!;
    specs[region] = {
      name: region,
      dir: serverDir,
      port: port!,
      monitorPort: monitorPort!,
      jetstream: true,
      cluster: { name: region, port: clusterPort!, gatewayPort: gatewayPort!, gateways },
      ...(opts.security ? { security: opts.security } : {}),
    };
  }
  const procs = new Map<string, ServiceProcess>();

  /** Waits until `region` has outbound gateways to every one of `peers`. */
  const gatewaysUp = (region: string, peers: string[]) =>
    eventually(
      async () => {
        const gz = await getJson(`http://127.0.0.1:${specs[region]!.monitorPort}/gatewayz`);
        const out = Object.keys((gz.outbound_gateways as Record<string, unknown> | undefined) ?? {});
        const missing = peers.filter((r) => r !== region && !out.includes(r));
        if (missing.length > 0) throw new Error(`${region}: no gateway to ${missing.join(',')} yet`);
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );

  const startRegion = async (region: string) => {
    const spec = specs[region];
    if (!spec) throw new Error(`unknown region ${region}`);
    if (procs.has(region)) return;
    procs.set(region, await launch(spec));
  };
  const stopRegion = async (region: string) => {
    await procs.get(region)?.stop();
    procs.delete(region);
  };
  const close = async () => {
    await Promise.all([...procs.keys()].map(stopRegion));
    await rm(dir, { recursive: true, force: true });
    keepDir();
  };

  try {
    await Promise.all(regions.map(startRegion));
    await Promise.all(regions.map((r) => gatewaysUp(r, regions)));
  } catch (err) {
    await close();
    throw err;
  }
  const servers: Record<string, NatsRegionServer> = {};
  const urls: Record<string, string> = {};
  for (const region of regions) {
    const s = specs[region]!;
    urls[region] = `${opts.security?.tls ? 'tls' : 'nats'}://127.0.0.1:${s.port}`;
    servers[region] = {
      url: urls[region],
      port: s.port,
      clusterPort: s.cluster!.port,
      gatewayPort: s.cluster!.gatewayPort,
      monitorPort: s.monitorPort,
    };
  }
  return {
    urls,
    servers,
    storeDir: (region) => join(specs[region]!.dir, 'jetstream'),
    stopRegion,
    async startRegion(region) {
      await startRegion(region);
      // Only to the regions running now: others may be stopped on purpose.
      await gatewaysUp(region, [...procs.keys()]);
    },
    close,
  };
}
