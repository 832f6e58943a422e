/**
 * What the hub's local fan-out costs per delivery, by path: the JS path (`deliverTo`: a queue
 * push per recipient, one corked write per socket per turn) against one uWS publish per message
 * to the conversation's topic (`LocalTopics`). The real `Hub`, `WsConnection` and `LocalTopics`
 * over real loopback sockets; routing and presence are in-memory and the frames are the same
 * size as the room bench's. The clients run in a child process; the figures are the server
 * process's CPU (which on loopback includes most of the kernel's TCP work for both ends).
 *
 * The two paths run in alternating rounds, so a machine shared with other work slows both alike:
 * compare the two columns of one run, not runs made at different times.
 *
 *   npx tsx bench/micro/fanout-cost.ts            (groups of 100; 1 and 10 messages per group per turn)
 */

import uWS from 'uWebSockets.js';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConnectionState } from '../../src/gateway/connection.ts';
import { liveMessage } from '../../src/gateway/frames.ts';
import { Hub } from '../../src/gateway/hub.ts';
import { LocalTopics } from '../../src/gateway/local-topics.ts';
import { GatewayMetrics } from '../../src/gateway/metrics.ts';
import { type SocketData, WsConnection } from '../../src/gateway/ws-connection.ts';
import { MemoryPresence } from '../../src/presence/memory.ts';
import type { Routed, Router } from '../../src/routing/types.ts';
import { WsClient } from '../loadgen/ws-client.ts';

const GROUPS = 10;
const MEMBERS = 100;
const MESSAGES_PER_ROUND = 400;
const ROUNDS = 7;

if (process.argv[2] === 'clients') {
  // The child: connects every member, counts frames, answers the parent's "count?" with the total.
  const port = Number(process.argv[3]);
  let received = 0;
  const clients: WsClient[] = [];
  for (let g = 0; g < GROUPS; g++) {
    for (let m = 0; m < MEMBERS; m++) {
      clients.push(
        await WsClient.connect(
          { host: '127.0.0.1', port, path: `/ws?u=g${g}-m${m}` },
          {
            onText: () => {
              received++;
            },
            onClose: () => {},
          },
        ),
      );
    }
  }
  process.on('message', (m) => {
    if (m === 'count?') process.send?.(received);
    else if (m === 'exit') process.exit(0);
  });
  process.send?.('ready');
} else {
  await server();
}

async function server(): Promise<void> {
  const router: Router = {
    gatewayId: 'bench',
    start: async () => {},
    close: async () => {},
    ping: async () => {},
    publish: async () => {},
    publishControl: async () => {},
  };
  const app = uWS.App();
  const topics = new LocalTopics(app, 4 * 1024 * 1024);
  const hub = new Hub('bench', router, new MemoryPresence(), new GatewayMetrics(), topics);
  const states: ConnectionState[] = [];
  app.ws<SocketData>('/ws', {
    maxBackpressure: 0,
    upgrade: (res, req, context) => {
      const userId = req.getQuery('u') ?? 'nobody';
      res.upgrade<SocketData>(
        {
          upgrade: {
            identity: { userId, expiresAt: Number.MAX_SAFE_INTEGER },
            device: 'bench',
            from: { position: null, since: null },
          },
          conn: null,
          session: null,
        },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      const data = ws.getUserData();
      if (!data.upgrade) return;
      data.conn = new WsConnection(ws, data.upgrade, topics);
      data.upgrade = null;
      void hub.add(data.conn).then((state) => {
        state.syncing = false;
        states.push(state);
      });
    },
    close: (ws) => ws.getUserData().conn?.markClosed(),
  });
  const port = await new Promise<number>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (ls) =>
      ls ? resolve(uWS.us_socket_local_port(ls)) : reject(new Error('listen')),
    ),
  );

  const child = fork(fileURLToPath(import.meta.url), ['clients', String(port)], {
    execArgv: ['--import', 'tsx'],
  });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  /** Frames the child received so far. */
  const receivedByClients = () =>
    new Promise<number>((resolve) => {
      child.once('message', (n) => resolve(Number(n)));
      child.send('count?');
    });
  let counted = 0;
  while (states.length < GROUPS * MEMBERS) await new Promise((r) => setTimeout(r, 10));
  const members = Array.from({ length: GROUPS }, (_, g) =>
    Array.from({ length: MEMBERS }, (_, m) => `g${g}-m${m}`),
  );

  let seq = 7301234567890123n;
  function routedFor(group: number, viaTopic: boolean): Routed {
    const message = {
      id: String(seq++),
      conversationId: `g:${group}`,
      senderId: `g${group}-m0`,
      clientMsgId: `c-${seq}`,
      body: 'x'.repeat(100),
      createdAt: Date.now(),
    };
    const routed = liveMessage(message, 'v1.r.1764500000000');
    if (viaTopic) return routed;
    return { kind: 'message', messageId: message.id, createdAt: message.createdAt, frame: routed.frame };
  }

  type Path = 'js' | 'topic' | 'bare';

  /**
   * µs of CPU per delivery: `perTurn` messages to each group per event-loop turn, through the hub
   * by the JS path or by topic, or (`bare`, the floor) one `app.publish` per message, no hub.
   */
  async function round(path: Path, perTurn: number): Promise<number> {
    const cpu0 = process.cpuUsage();
    let sent = 0;
    while (sent < MESSAGES_PER_ROUND) {
      for (let k = 0; k < perTurn; k++) {
        for (let g = 0; g < GROUPS; g++) {
          const routed = routedFor(g, path === 'topic');
          if (path === 'bare') app.publish(`c:g:${g}`, routed.frame, false);
          else void hub.fanOut(members[g]!, routed, undefined);
        }
        sent += GROUPS;
      }
      await new Promise((r) => setImmediate(r));
    }
    // Every member but none (no sender connection excluded here) receives every message.
    counted += sent * MEMBERS;
    while ((await receivedByClients()) < counted) await new Promise((r) => setTimeout(r, 2));
    const cpu = process.cpuUsage(cpu0);
    return (cpu.user + cpu.system) / (sent * MEMBERS);
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const perTurn of [1, 3, 10]) {
    const results: Record<Path, number[]> = { js: [], topic: [], bare: [] };
    await round('topic', perTurn); // warm-up, and subscribes every connection
    await round('js', perTurn);
    for (let r = 0; r < ROUNDS; r++) {
      for (const path of ['js', 'topic', 'bare'] as const) results[path].push(await round(path, perTurn));
    }
    const line = (['js', 'topic', 'bare'] as const)
      .map((p) => `${p} ${median(results[p]).toFixed(2)} [${results[p].map((x) => x.toFixed(2)).join(' ')}]`)
      .join(' | ');
    process.stdout.write(`${perTurn}/group/turn, µs CPU per delivery, median of ${ROUNDS}: ${line}\n`);
  }
  child.send('exit');
  process.exit(0);
}
