/**
 * What one delivery costs uWebSockets.js, depending on how it is sent: the gateway's way (a
 * corked `ws.send` per recipient per message), variants of it, and uWS topic pub/sub. One
 * process holds the server and 100 client sockets (bench/loadgen/ws-client.ts), so the CPU per
 * delivery includes the client's receive and the kernel's loopback work — the same for every
 * variant. `BATCH` frames are sent per socket per event-loop turn: 1 is the gateway's situation
 * at moderate rates; larger values show what coalescing several frames into one write buys.
 *
 *   npx tsx bench/micro/send-cost.ts            (BATCH=1, then BATCH=50)
 */
import uWS from 'uWebSockets.js';
import { Counter, Histogram, Registry } from 'prom-client';
import { WsClient } from '../loadgen/ws-client.ts';

const SOCKETS = 100;
const MESSAGES = 2000;

const sockets: uWS.WebSocket<unknown>[] = [];
const app = uWS.App();
app.ws('/ws', { open: (ws) => void sockets.push(ws), maxBackpressure: 64 * 1024 * 1024 });
const port = await new Promise<number>((resolve, reject) =>
  app.listen('127.0.0.1', 0, (ls) =>
    ls ? resolve(uWS.us_socket_local_port(ls)) : reject(new Error('listen')),
  ),
);
let received = 0;
const clients = await Promise.all(
  Array.from({ length: SOCKETS }, () =>
    WsClient.connect(
      { host: '127.0.0.1', port, path: '/ws' },
      {
        onText: () => {
          received++;
        },
        onClose: () => {},
      },
    ),
  ),
);
while (sockets.length < SOCKETS) await new Promise((r) => setTimeout(r, 10));

const payload = JSON.stringify({
  op: 'message',
  message: {
    id: '7301234567890123',
    conversationId: 'g:7301234567890',
    senderId: 'u123',
    clientMsgId: 'c-1',
    body: 'x'.repeat(100),
    createdAt: Date.now(),
  },
  replay: false,
});
const registry = new Registry();
const counter = new Counter({ name: 'frames', help: 'frames', registers: [registry] });
const histogram = new Histogram({
  name: 'latency',
  help: 'latency',
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  registers: [registry],
});

async function measure(
  name: string,
  batch: number,
  sendOne: () => void,
  endOfTurn?: () => void,
): Promise<void> {
  received = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < MESSAGES; i++) {
    sendOne();
    if ((i + 1) % batch === 0) {
      endOfTurn?.();
      await new Promise((r) => setImmediate(r));
    }
  }
  while (received < MESSAGES * SOCKETS) await new Promise((r) => setImmediate(r));
  const cpu = process.cpuUsage(cpu0);
  const us = (cpu.user + cpu.system) / (MESSAGES * SOCKETS);
  console.log(`BATCH=${batch}  ${us.toFixed(2).padStart(6)} µs CPU per delivery  ${name}`);
}

const buffer = Buffer.from(payload);
for (const batch of [1, 50]) {
  await measure('cork + send(string) per socket (the gateway)', batch, () => {
    for (const ws of sockets) ws.cork(() => ws.send(payload, false));
  });
  await measure('send(string), no cork', batch, () => {
    for (const ws of sockets) ws.send(payload, false);
  });
  await measure('cork + send(buffer encoded once)', batch, () => {
    for (const ws of sockets) ws.cork(() => ws.send(buffer, false));
  });
  await measure('cork + send(string) + prom-client counter and histogram per delivery', batch, () => {
    for (const ws of sockets) {
      ws.cork(() => ws.send(payload, false));
      counter.inc();
      histogram.observe(0.003);
    }
  });
  // The proposal for the gateway: queue per socket, write each socket's frames once per turn.
  const queued = new Map<uWS.WebSocket<unknown>, string[]>();
  await measure(
    'queue per socket, one corked write per socket per turn',
    batch,
    () => {
      for (const ws of sockets) {
        const q = queued.get(ws);
        if (q) q.push(payload);
        else queued.set(ws, [payload]);
      }
    },
    () => {
      for (const [ws, q] of queued) {
        ws.cork(() => {
          for (const p of q) ws.send(p, false);
        });
      }
      queued.clear();
    },
  );
  for (const ws of sockets) ws.subscribe('room');
  await measure('app.publish(topic) once per message (uWS pub/sub)', batch, () => {
    app.publish('room', payload, false);
  });
  for (const ws of sockets) ws.unsubscribe('room');
}
for (const c of clients) c.destroy();
process.exit(0);
