/**
 * Retention and erasure across two regions on real NATS, Redis and Cassandra (a keyspace per
 * region): erasing a user through the server API removes every row of their messages (bodies,
 * copies, files) from every table of both keyspaces, leaves other users' messages whole, tells
 * connected members, and each region's report is readable from either; a conversation's own
 * retention period set in one region expires its messages in both.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WireMessage } from '../../src/protocol/index.ts';
import type { ErasureRecord } from '../../src/storage/retention.ts';
import { API_KEY, api } from '../api.scenarios.ts';
import { uploadTo } from '../attachments.scenarios.ts';
import { eventually } from '../helpers/eventually.ts';
import { token } from '../helpers/gateway.ts';
import {
  holds,
  startTwoRegions,
  TWO_REGIONS,
  type TwoRegion,
  type TwoRegions,
} from '../helpers/two-regions.ts';

const tag = randomBytes(3).toString('hex');
const eve = `eve${tag}`;
const bob = `bob${tag}`;
const carol = `carol${tag}`;
const SECRET = `EVESECRET${tag}`;
const KEEP = `BOBKEEP${tag}`;

describe('retention and erasure across regions', () => {
  let regions: TwoRegions;
  const gw = (r: TwoRegion) => regions.gateways.get(r)!;

  before(async () => {
    regions = await startTwoRegions({
      keyspacePrefix: 'chat_ret',
      pins: { [eve]: 'us-east', [bob]: 'eu-west', [carol]: 'eu-west' },
      config: { api: { keys: { ops: API_KEY } } },
    });
  });

  after(async () => {
    await regions?.close();
  });

  it("erasing a user removes every row of their messages in both regions and nothing of others'", async () => {
    const e = await regions.open('us-east', eve);
    const b = await regions.open('eu-west', bob);
    const group = (await e.call('createGroup', { title: 'erase me', members: [bob, carol] })).conversation.id;
    await b.waitFor(
      (f) => f.op === 'conversation' && (f.conversation as { id: string }).id === group,
      20_000,
    );

    // A file only eve's message references, its bytes marked so a scan can find them.
    const fileBytes = Buffer.concat([Buffer.from(`${SECRET}-file`), randomBytes(300_000)]);
    const up = await uploadTo(
      gw('us-east').httpUrl,
      await token(eve),
      group,
      fileBytes,
      'application/pdf',
      'x.pdf',
    );
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const fileId = up.body.attachment!.id;
    const e1 = await e.call('send', { conversationId: group, body: `${SECRET} one`, attachments: [fileId] });
    const e2 = await e.call('send', { conversationId: group, body: `${SECRET} two` });
    await e.call('edit', { conversationId: group, messageId: e2.messageId, body: `${SECRET} two edited` });
    const b1 = await b.call('send', { conversationId: group, body: `${KEEP} one` });
    // Replies both ways, and bob reacts to eve's message.
    await b.waitFor((f) => f.op === 'message' && (f.message as WireMessage).id === e1.messageId, 20_000);
    const bReply = await b.call('send', {
      conversationId: group,
      body: `${KEEP} reply`,
      replyTo: e1.messageId,
    });
    await e.waitFor((f) => f.op === 'message' && (f.message as WireMessage).id === b1.messageId, 20_000);
    const eReply = await e.call('send', {
      conversationId: group,
      body: `${SECRET} reply`,
      replyTo: b1.messageId,
    });
    await b.call('react', { conversationId: group, messageId: e1.messageId, emoji: '👍' });
    const eveIds = [e1.messageId, e2.messageId, eReply.messageId];

    // Everything reached eu-west (carol, offline, has copies queued there).
    await eventually(
      async () => {
        const bodies = await regions.bodiesIn('eu-west');
        assert.ok(bodies.includes(`${SECRET} reply`), JSON.stringify(bodies));
        assert.ok(bodies.includes(`${SECRET} two edited`), JSON.stringify(bodies));
      },
      { timeoutMs: 30_000 },
    );

    const asked = await api(gw('us-east').httpUrl, 'POST', '/v1/erasures', { userId: eve });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const req = asked.body as { requestId: string };
    // Bob, connected in eu-west, is told each of eve's messages is gone.
    for (const id of eveIds) {
      await b.waitFor(
        (f) =>
          f.op === 'update' &&
          (f.message as WireMessage).id === id &&
          (f.message as WireMessage).state?.deleted === true,
        60_000,
      );
    }
    // Each region's report, readable from either region.
    let records: ErasureRecord[] = [];
    for (const region of TWO_REGIONS) {
      await eventually(
        async () => {
          const answer = await api(gw(region).httpUrl, 'GET', `/v1/erasures/${req.requestId}`);
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          const status = answer.body as { regions: ErasureRecord[] };
          assert.deepEqual(
            status.regions.map((r) => [r.region, r.status]),
            [
              ['eu-west', 'done'],
              ['us-east', 'done'],
            ],
          );
          records = status.regions;
        },
        { timeoutMs: 60_000 },
      );
    }
    for (const r of records) {
      for (const id of eveIds) assert.ok(r.report!.messageIds.includes(id), `${r.region} ${id}`);
      assert.ok(!r.report!.messageIds.includes(b1.messageId), r.region);
      assert.deepEqual(r.report!.attachmentIds, [fileId], r.region);
      assert.ok((r.report!.tables.messages ?? 0) >= eveIds.length, JSON.stringify(r.report!.tables));
    }
    const eu = records.find((r) => r.region === 'eu-west')!;
    assert.ok(
      (eu.report!.tables.offline_queue ?? 0) > 0,
      `carol's queued copies: ${JSON.stringify(eu.report!.tables)}`,
    );

    // No row of either keyspace holds eve's text or file, nor a message row of hers.
    const secret = Buffer.from(SECRET);
    for (const region of TWO_REGIONS) {
      const rows = await regions.everyRow(region);
      const leaks = rows.filter(({ row }) => Object.values(row).some((v) => holds(v, secret)));
      assert.deepEqual(
        leaks.map((l) => l.table),
        [],
        `${region}: ${JSON.stringify(leaks.map((l) => l.table))}`,
      );
      const hers = rows.filter(
        ({ table, row }) =>
          ['messages', 'offline_queue', 'late_messages'].includes(table) && row.sender_id === eve,
      );
      assert.deepEqual(hers, [], region);
      assert.ok(
        !rows.some(({ row }) => holds(row.attachment_id, Buffer.from(fileId))),
        `${region}: file rows`,
      );
      // Bob's messages are whole.
      const bodies = await regions.bodiesIn(region);
      assert.ok(bodies.includes(`${KEEP} one`) && bodies.includes(`${KEEP} reply`), `${region}: ${bodies}`);
    }
    // Nor is it in either region's replication streams (outbox, inbox); bob's text still is.
    for (const region of TWO_REGIONS) {
      assert.ok(await regions.streamFilesHold(region, Buffer.from(KEEP)), region);
      await eventually(async () => assert.ok(!(await regions.streamFilesHold(region, secret)), region), {
        timeoutMs: 30_000,
      });
    }
    const page = await b.call('history', { conversationId: group, limit: 50 });
    assert.deepEqual(page.messages.map((m) => m.body).sort(), [`${KEEP} one`, `${KEEP} reply`]);
    assert.ok(page.messages.some((m) => m.id === bReply.messageId));
  });

  it("a conversation's own period set in one region expires its messages in both", async () => {
    const e = await regions.open('us-east', eve, { device: 'ret' });
    const group = (await e.call('createGroup', { title: 'short-lived', members: [bob] })).conversation.id;
    const old = await e.call('send', { conversationId: group, body: `${tag} soon gone` });
    const set = await api(gw('us-east').httpUrl, 'PUT', `/v1/conversations/${group}/retention`, {
      seconds: 2,
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.seconds, 2);
    await eventually(
      async () => {
        assert.equal(await gw('eu-west').deps.storage.retention.getConversationRetention(group), 2);
      },
      { timeoutMs: 30_000 },
    );
    await new Promise((r) => setTimeout(r, 3000));
    const fresh = await e.call('send', { conversationId: group, body: `${tag} still here` });
    // Hidden from reads at once, swept or not.
    const b = await regions.open('eu-west', bob, { device: 'ret' });
    await eventually(
      async () => {
        const page = await b.call('history', { conversationId: group, limit: 10 });
        assert.deepEqual(
          page.messages.map((m) => m.id),
          [fresh.messageId],
        );
      },
      { timeoutMs: 30_000 },
    );
    for (const region of TWO_REGIONS) await gw(region).retentionSweeper.sweep();
    for (const region of TWO_REGIONS) {
      const bodies = await regions.bodiesIn(region);
      assert.ok(!bodies.includes(`${tag} soon gone`), `${region} still holds the expired message`);
      assert.ok(bodies.includes(`${tag} still here`), `${region} lost the live message`);
    }
    assert.equal(await gw('us-east').deps.storage.getMessage(group, BigInt(old.messageId)), null);
  });
});
