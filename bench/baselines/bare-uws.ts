/**
 * The ceiling: bare uWebSockets.js pub/sub speaking the same JSON frames as the gateway, with
 * nothing else — no authentication (the user id is a query parameter), no persistence, no
 * presence, no routing between processes, no ordering or rate limits. One topic per
 * conversation; `send` publishes the same `message` frame the gateway would and answers `sent`
 * at once. Whatever the gateway does beyond this is the price of its guarantees.
 *
 *   PORT=0 node --import tsx bench/baselines/bare-uws.ts     prints "LISTENING <port>"
 */
import uWS from 'uWebSockets.js';

interface Data {
  userId: string;
}

const sockets = new Map<string, Set<uWS.WebSocket<Data>>>();
let nextId = 1;

function subscribeAll(userIds: readonly string[], topic: string): void {
  for (const u of userIds) for (const ws of sockets.get(u) ?? []) ws.subscribe(topic);
}

function onMessage(ws: uWS.WebSocket<Data>, message: ArrayBuffer): void {
  let f: {
    op?: string;
    id?: string;
    conversationId?: string;
    body?: string;
    clientMsgId?: string;
    members?: string[];
  };
  try {
    f = JSON.parse(Buffer.from(message).toString('utf8'));
  } catch {
    ws.send('{"op":"error","id":null,"code":"bad_frame","message":"not JSON"}');
    return;
  }
  const userId = ws.getUserData().userId;
  if (f.op === 'send' && typeof f.conversationId === 'string' && typeof f.body === 'string') {
    const topic = f.conversationId;
    if (!ws.isSubscribed(topic)) {
      // A direct conversation starts on first send, as on the gateway.
      const pair = /^dm:([^:]+):([^:]+)$/.exec(topic);
      if (!pair || (pair[1] !== userId && pair[2] !== userId)) {
        ws.send(
          JSON.stringify({ op: 'error', id: f.id ?? null, code: 'forbidden', message: 'not a member' }),
        );
        return;
      }
      subscribeAll([pair[1]!, pair[2]!], topic);
    }
    const id = String(nextId++);
    const createdAt = Date.now();
    const frame = {
      op: 'message',
      message: {
        id,
        conversationId: topic,
        senderId: userId,
        clientMsgId: f.clientMsgId ?? null,
        body: f.body,
        createdAt,
      },
      replay: false,
    };
    // Inside the message handler uWS has the socket corked already: both go out in one write.
    ws.publish(topic, JSON.stringify(frame));
    ws.send(
      JSON.stringify({
        op: 'sent',
        id: f.id,
        messageId: id,
        conversationId: topic,
        createdAt,
        duplicate: false,
      }),
    );
    return;
  }
  if (f.op === 'createGroup' && Array.isArray(f.members)) {
    const topic = `g:${nextId++}`;
    const members = [...new Set([userId, ...f.members])];
    subscribeAll(members, topic);
    ws.send(JSON.stringify({ op: 'result', id: f.id, data: { conversation: { id: topic, members } } }));
    return;
  }
  ws.send(JSON.stringify({ op: 'error', id: f.id ?? null, code: 'unknown_op', message: 'unsupported' }));
}

const app = uWS.App();
app.ws<Data>('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 256 * 1024,
  idleTimeout: 120,
  maxBackpressure: 16 * 1024 * 1024,
  upgrade: (res, req, context) => {
    res.upgrade<Data>(
      { userId: req.getQuery('user') || 'anonymous' },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    const userId = ws.getUserData().userId;
    let set = sockets.get(userId);
    if (!set) {
      set = new Set();
      sockets.set(userId, set);
    }
    set.add(ws);
    ws.send('{"op":"synced","id":null,"count":0,"lastId":null,"truncated":false}');
  },
  message: (ws, message) => onMessage(ws, message),
  close: (ws) => {
    const userId = ws.getUserData().userId;
    const set = sockets.get(userId);
    set?.delete(ws);
    if (set?.size === 0) sockets.delete(userId);
  },
});

const port = Number(process.env.PORT ?? 0);
app.listen(process.env.HOST ?? '127.0.0.1', port, (listenSocket) => {
  if (!listenSocket) {
    console.error(`bare-uws: cannot listen on port ${port}`);
    process.exit(1);
  }
  console.log(`LISTENING ${uWS.us_socket_local_port(listenSocket)}`);
  const stop = () => {
    uWS.us_listen_socket_close(listenSocket);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
