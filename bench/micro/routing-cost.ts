/**
 * What routing one group message to the region costs, the two ways the gateway has done it, on
 * a real Redis and NATS (started here, no subscribers besides the gateways' own):
 * - per user: one NATS publish per member on `chat.<region>.u.<userId>` (the old routing);
 * - per gateway: one `Presence.locate` of the members (Redis, batched per event-loop turn),
 *   then one publish per other gateway holding some of them (the current routing).
 * CPU is this process (the gateway's side), nats-server and redis-server, per message; the
 * latency column is the lookup's round trip (what a send now waits for before its ack).
 *
 *   npx tsx bench/micro/routing-cost.ts
 *
 * 10 groups of 100 members, messages round-robin over them; 0, 1 or 3 other gateways each
 * holding an equal share of the members (0: all on this gateway, as in the one-gateway bench).
 */
import { connect } from 'nats';
import { RedisPresence } from '../../src/presence/redis.ts';
import { encodeRouted } from '../../src/routing/envelope.ts';
import type { Routed } from '../../src/routing/types.ts';
import { startNats } from '../../test/helpers/nats.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { cpuSeconds } from '../lib/proc-stats.ts';

const MEMBERS = 100;
/** Distinct groups, messages round-robin over them (as the room scenario's 10 groups). */
const GROUPS = 10;
const MESSAGES = 4000;
/** Sends in flight at once: lookups of one turn share a round trip, as under load. */
const CONCURRENCY = [1, 20];

const redis = await startRedis();
const nats = await startNats();
const presence = new RedisPresence({ url: redis.url, keyPrefix: 'bench:' });
await presence.start();
const nc = await connect({ servers: [nats.url], noEcho: true });
const groups = Array.from({ length: GROUPS }, (_, g) =>
  Array.from({ length: MEMBERS }, (_, i) => `user${g}-${i}`),
);
const everyone = groups.flat();
const frame = JSON.stringify({ op: 'message', message: { id: '1', body: 'x'.repeat(120) }, pos: 'v1.r.1' });
const routed: Routed = { kind: 'message', messageId: '271828182845904523', createdAt: Date.now(), frame };
const encoder = new TextEncoder();

function measure(label: string, run: () => Promise<void>): Promise<void> {
  return (async () => {
    const self0 = process.cpuUsage();
    const n0 = cpuSeconds(nats.pid);
    const r0 = cpuSeconds(redis.pid);
    const t0 = performance.now();
    await run();
    await nc.flush();
    const ms = performance.now() - t0;
    const self = process.cpuUsage(self0);
    const per = (s: number) => ((s * 1e6) / MESSAGES).toFixed(1);
    console.log(
      `${label.padEnd(44)} per message: gateway ${per((self.user + self.system) / 1e6)} µs, ` +
        `nats ${per(cpuSeconds(nats.pid) - n0)} µs, redis ${per(cpuSeconds(redis.pid) - r0)} µs; ` +
        `${((MESSAGES / ms) * 1000).toFixed(0)} msg/s`,
    );
  })();
}

async function perUser(): Promise<void> {
  for (let i = 0; i < MESSAGES; i++) {
    const data = encoder.encode(encodeRouted(routed, ['x']));
    for (const u of groups[i % GROUPS]!) nc.publish(`chat.r.u.${u}`, data);
    if (i % 100 === 0) await nc.flush();
  }
}

async function perGateway(concurrency: number, lat: number[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < MESSAGES) {
      const members = groups[next++ % GROUPS]!;
      const t = performance.now();
      const where = await presence.locate(members, 'gw-self');
      lat.push(performance.now() - t);
      for (const [gw, users] of where.gateways)
        nc.publish(`chat.r.g.${gw}`, encoder.encode(encodeRouted(routed, users)));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!.toFixed(3);

await measure('per user (old): 100 publishes', perUser);
for (const others of [0, 1, 3]) {
  // `others` other gateways, members spread over them and this one.
  await presence.heartbeat('gw-self');
  for (let g = 0; g < others; g++) await presence.heartbeat(`gw-${g}`);
  for (const [i, u] of everyone.entries()) {
    const g = i % (others + 1);
    await presence.markOnline(u, {
      connectionId: `c-${u}-${others}`,
      gatewayId: g === others ? 'gw-self' : `gw-${g}`,
      device: 'web',
    });
  }
  for (const c of CONCURRENCY) {
    const lat: number[] = [];
    await measure(`per gateway (new): ${others} other gw, ${c} in flight`, () => perGateway(c, lat));
    console.log(
      `  lookup round trip p50 ${pct(lat, 0.5)} ms, p99 ${pct(lat, 0.99)} ms; batches ${presence.locates.batches}`,
    );
  }
  for (const u of everyone) await presence.markOffline(u, `c-${u}-${others}`);
}

await nc.close();
await presence.close();
await Promise.all([redis.close(), nats.close()]);
