/**
 * Routing addressed to gateways, counted on the wire: two in-process gateways of one region on
 * real NATS and Redis (presence), the embedded store shared. A spy on `chat.<region>.g.>` sees
 * every frame one gateway routes to another: a group message with members on both gateways is
 * one publish to the other gateway, naming only its members there; with every member (and every
 * device of theirs) on the sending gateway it is none.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { directConversationId } from '../../src/protocol/index.ts';
import { type Frame, TestClient } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestGateway, type TestGateway, testConfig, token } from '../helpers/gateway.ts';
import { type NatsHandle, startNats } from '../helpers/nats.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';

interface Routed {
  subject: string;
  /** The envelope's header line: `m<id> <createdAt> <users>` or `e<users>`. */
  header: string;
}

/** The recipients named in an envelope header. */
const usersOf = (header: string): string[] =>
  (header.startsWith('e') ? header.slice(1) : header.slice(header.lastIndexOf(' ') + 1)).split(',');

const isMessage = (id: string) => (f: Frame) => f.op === 'message' && (f.message as { id: string }).id === id;

describe('routing between two gateways, counted on NATS', () => {
  let nats: NatsHandle;
  let redis: RedisHandle;
  let spy: NatsConnection;
  let g1: TestGateway;
  let g2: TestGateway;
  const routed: Routed[] = [];
  const clients: TestClient[] = [];
  const tag = randomBytes(3).toString('hex');
  const [alice, bob, carol, erin] = ['alice', 'bob', 'carol', 'erin'].map((n) => `${n}${tag}`) as [
    string,
    string,
    string,
    string,
  ];

  const open = async (gw: TestGateway, userId: string) => {
    const c = await TestClient.connect(gw.url, await token(userId));
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced' && f.id === null, 30_000);
    return c;
  };
  /** Frames routed to gateway `gw` whose header mentions message `id`. */
  const publishesOf = (id: string) => routed.filter((r) => r.header.startsWith(`m${id} `));
  const subjectOf = (gw: TestGateway) => `chat.test.g.${gw.gateway.gatewayId}`;

  before(async () => {
    [nats, redis] = await Promise.all([startNats(), startRedis()]);
    const config = testConfig({ redis: { url: redis.url }, nats: { servers: [nats.url] } });
    g1 = await startTestGateway({ config, workerId: 1 });
    g2 = await startTestGateway({ config, workerId: 2, dataDir: g1.dataDir });
    spy = await connect({ servers: [nats.url] });
    spy.subscribe('chat.test.g.>', {
      callback: (err, msg) => {
        if (err) throw err;
        const text = msg.string();
        routed.push({ subject: msg.subject, header: text.slice(0, text.indexOf('\n')) });
      },
    });
    await spy.flush();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await spy?.close();
    await g2?.stop();
    await g1?.stop();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it('a group message with members on both gateways is one publish, to the other gateway', async () => {
    const a = await open(g1, alice);
    const b = await open(g1, bob);
    const c = await open(g2, carol);
    const group = (await a.call('createGroup', { title: 'both', members: [bob, carol] })).conversation.id;
    await c.waitFor((f) => f.op === 'conversation' && (f.conversation as { id: string }).id === group);
    const sent = await a.call('send', { conversationId: group, body: 'hello', clientMsgId: `m1${tag}` });
    const id = String(sent.messageId);
    await Promise.all([b.waitFor(isMessage(id)), c.waitFor(isMessage(id))]);
    await spy.flush();
    await eventually(() => assert.equal(publishesOf(id).length, 1), { timeoutMs: 2000, intervalMs: 20 });
    const [only] = publishesOf(id);
    assert.equal(only!.subject, subjectOf(g2));
    assert.ok(only!.header.endsWith(` ${carol}`), `names only carol: ${only!.header}`);
    await a.close();
    await b.close();
    await c.close();
  });

  it('a group whose members are all on the sending gateway publishes nothing', async () => {
    const a = await open(g1, alice);
    const b = await open(g1, bob);
    const before = routed.length;
    const group = (await a.call('createGroup', { title: 'local', members: [bob] })).conversation.id;
    await b.waitFor((f) => f.op === 'conversation' && (f.conversation as { id: string }).id === group);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = await a.call('send', { conversationId: group, body: `l${i}`, clientMsgId: `l${i}${tag}` });
      ids.push(String(sent.messageId));
    }
    await b.waitFor(isMessage(ids.at(-1)!));
    // Everything routed so far has reached the spy once a flush returns.
    await spy.flush();
    await settle();
    // The settle round trip routes its own frames to its marker user on g2, naming nobody else.
    const ours = routed.slice(before).filter((r) => usersOf(r.header).some((u) => u === alice || u === bob));
    assert.deepEqual(ours, [], 'no frame of the group (event or message) left the gateway');
    await a.close();
    await b.close();
  });

  it('reaches the other device of a member who is also on the sending gateway', async () => {
    // erin is local to g1 and has a second device on g2: local alone is not enough.
    const a = await open(g1, alice);
    const e1 = await open(g1, erin);
    const e2 = await open(g2, erin);
    const direct = directConversationId(alice, erin);
    const sent = await a.call('send', { conversationId: direct, body: 'to both', clientMsgId: `e1${tag}` });
    const id = String(sent.messageId);
    await Promise.all([e1.waitFor(isMessage(id)), e2.waitFor(isMessage(id))]);
    await spy.flush();
    await eventually(() => assert.equal(publishesOf(id).length, 1), { timeoutMs: 2000, intervalMs: 20 });
    assert.equal(publishesOf(id)[0]!.subject, subjectOf(g2));
  });

  /** A round trip through g1 → g2 that the spy also sees: what was routed before has arrived. */
  async function settle(): Promise<void> {
    const mark = `mark${randomBytes(3).toString('hex')}`;
    const probe = await open(g2, mark);
    const x = await open(g1, alice);
    const direct = directConversationId(alice, mark);
    const sent = await x.call('send', { conversationId: direct, body: 'mark', clientMsgId: mark });
    await probe.waitFor(isMessage(String(sent.messageId)));
    await spy.flush();
    await eventually(() => assert.equal(publishesOf(String(sent.messageId)).length, 1), {
      timeoutMs: 2000,
      intervalMs: 20,
    });
    // The marker itself is not part of what the caller counts.
    routed.splice(
      routed.findIndex((r) => r.header.startsWith(`m${sent.messageId} `)),
      1,
    );
    await probe.close();
    await x.close();
  }
});
