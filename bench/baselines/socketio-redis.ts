/**
 * The baseline: a chat server built the way a user would build one instead of this project —
 * Socket.IO 4 on Node's HTTP server, `@socket.io/redis-adapter` on a real Redis so several
 * such processes could share rooms, one room per conversation, server acks. It does the same
 * work per message as the gateway where a typical app would:
 *
 * - authenticates every connection with the same HS256 JWT (`auth: {token}`), in `io.use`;
 * - on connect joins a room per user and the rooms of the user's conversations (a Redis set);
 * - `send`: checks the sender is in the conversation's room (a direct conversation is created
 *   on first send: both users' conversation sets in Redis, both users' sockets join), persists
 *   the message with one Redis `LPUSH` per message (durability-ish: the bench's Redis keeps it in
 *   memory only, as the bench's Cassandra keeps the gateway's writes in its memtable and
 *   periodically-synced commit log), then `socket.to(room).emit('message', frame)` — which the
 *   Redis adapter also PUBLISHes for other nodes — and acks the sender with a `sent` frame;
 * - `createGroup`: stores members in Redis, joins their sockets, replies `{conversation}`.
 *
 * It does not do what the gateway does beyond that: no dedup of resends (clientMsgId), no
 * ordering guarantee across a restart, no offline queue, no replay on reconnect, no presence,
 * no rate limits. Event names are the gateway's op names; acks carry the gateway's reply frames,
 * so the load generator drives it exactly like the gateway's Socket.IO endpoint.
 *
 *   PORT=0 REDIS_URL=redis://… JWT_SECRET=… node --import tsx bench/baselines/socketio-redis.ts
 *   prints "LISTENING <port>"
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { jwtVerify } from 'jose';
import { Server, type Socket } from 'socket.io';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const secret = new TextEncoder().encode(process.env.JWT_SECRET ?? '');
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const db = new Redis(redisUrl);

const http = createServer();
const io = new Server(http, { serveClient: false, adapter: createAdapter(pub, sub) });

let seq = 0;
/** Message ids: time-ordered and unique per process, like a typical app's. */
const newId = () => `${Date.now()}${String(seq++ % 1_000_000).padStart(6, '0')}`;

type Ack = (reply: unknown) => void;
const convsKey = (userId: string) => `user:${userId}:convs`;
const userRoom = (userId: string) => `user:${userId}`;

io.use(async (socket, next) => {
  try {
    const token = (socket.handshake.auth as { token?: unknown }).token;
    if (typeof token !== 'string') throw new Error('missing token');
    const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string') throw new Error('no sub');
    socket.data.userId = payload.sub;
    next();
  } catch (err) {
    next(err instanceof Error ? err : new Error('unauthorized'));
  }
});

io.on('connection', async (socket: Socket) => {
  const userId = socket.data.userId as string;
  socket.on('send', (f: unknown, ack: Ack) => void onSend(socket, userId, f, ack));
  socket.on('createGroup', (f: unknown, ack: Ack) => void onCreateGroup(userId, f, ack));
  socket.join(userRoom(userId));
  const convs = await db.smembers(convsKey(userId));
  if (convs.length > 0) socket.join(convs);
  // The gateway's raw protocol ends its connect with `synced`; say the same so clients know.
  socket.emit('synced', { op: 'synced', id: null, count: 0, lastId: null, truncated: false });
});

/**
 * Makes the sockets in `rooms` join `room` on every node. With the Redis adapter a plain
 * `socketsJoin` only publishes a request, which this node too applies when it comes back from
 * Redis — after the ack we are about to send, so the sender's next message could be refused.
 * Joining the local sockets first closes that race; the echo is then a no-op here.
 */
function joinEverywhere(rooms: string[], room: string): void {
  io.local.in(rooms).socketsJoin(room);
  io.in(rooms).socketsJoin(room);
}

async function onSend(socket: Socket, userId: string, f: unknown, ack: Ack): Promise<void> {
  if (typeof ack !== 'function') return;
  const { id, conversationId, body, clientMsgId } = (f ?? {}) as Record<string, unknown>;
  const reqId = typeof id === 'string' ? id : null;
  if (typeof conversationId !== 'string' || typeof body !== 'string' || body.length === 0) {
    ack({ op: 'error', id: reqId, code: 'invalid_field', message: 'conversationId and body required' });
    return;
  }
  try {
    if (!socket.rooms.has(conversationId)) {
      const pair = /^dm:([^:]+):([^:]+)$/.exec(conversationId);
      if (!pair || (pair[1] !== userId && pair[2] !== userId)) {
        ack({ op: 'error', id: reqId, code: 'forbidden', message: 'not a member of this conversation' });
        return;
      }
      const [a, b] = [pair[1]!, pair[2]!];
      await db.multi().sadd(convsKey(a), conversationId).sadd(convsKey(b), conversationId).exec();
      joinEverywhere([userRoom(a), userRoom(b)], conversationId);
    }
    const message = {
      id: newId(),
      conversationId,
      senderId: userId,
      clientMsgId: typeof clientMsgId === 'string' ? clientMsgId : null,
      body,
      createdAt: Date.now(),
    };
    await db.lpush(`conv:${conversationId}:messages`, JSON.stringify(message));
    socket.to(conversationId).emit('message', { op: 'message', message, replay: false });
    ack({
      op: 'sent',
      id: reqId,
      messageId: message.id,
      conversationId,
      createdAt: message.createdAt,
      duplicate: false,
    });
  } catch (err) {
    ack({ op: 'error', id: reqId, code: 'unavailable', message: String(err) });
  }
}

async function onCreateGroup(userId: string, f: unknown, ack: Ack): Promise<void> {
  if (typeof ack !== 'function') return;
  const { id, title, members } = (f ?? {}) as Record<string, unknown>;
  const reqId = typeof id === 'string' ? id : null;
  if (!Array.isArray(members) || !members.every((m) => typeof m === 'string')) {
    ack({ op: 'error', id: reqId, code: 'invalid_field', message: 'members must be user ids' });
    return;
  }
  const all = [...new Set([userId, ...(members as string[])])];
  const conversationId = `g:${newId()}`;
  try {
    const tx = db.multi();
    tx.sadd(`conv:${conversationId}:members`, ...all);
    for (const u of all) tx.sadd(convsKey(u), conversationId);
    await tx.exec();
    joinEverywhere(all.map(userRoom), conversationId);
    const conversation = {
      id: conversationId,
      kind: 'group',
      title: title ?? null,
      createdBy: userId,
      members: all,
    };
    ack({ op: 'result', id: reqId, data: { conversation } });
  } catch (err) {
    ack({ op: 'error', id: reqId, code: 'unavailable', message: String(err) });
  }
}

http.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const addr = http.address();
  console.log(`LISTENING ${typeof addr === 'object' && addr ? addr.port : 0}`);
});

const stop = () => {
  io.close();
  void Promise.allSettled([pub.quit(), sub.quit(), db.quit()]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
