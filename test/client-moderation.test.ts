/**
 * Moderation in the client SDK: roles, bans and blocks through its typed methods, refusals as
 * `ChatClientError` with the server's code (the client stays usable), and `update` events that
 * say who deleted a message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChatClientError, type UpdateMeta, type WireMessage } from '../src/client/index.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';
import { sdkClient, sdkUser } from './helpers/sdk-clients.ts';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof ChatClientError, String(err));
    return err.code;
  }
}

describe('ChatClient moderation', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
  });

  it('sets roles, bans and unbans; an admin deletes a message and members learn who did', async () => {
    const [owner, admin, carol] = [sdkUser('own'), sdkUser('adm'), sdkUser('carol')];
    const o = sdkClient(gw.url, owner);
    const a = sdkClient(gw.url, admin);
    const c = sdkClient(gw.url, carol);
    await Promise.all([o.connect(), a.connect(), c.connect()]);
    const group = await o.createGroup('sdk mods', [admin, carol]);
    assert.equal(await code(c.setRole(group.id, admin, 'admin')), 'forbidden');
    const withAdmin = await o.setRole(group.id, admin, 'admin');
    assert.deepEqual(withAdmin.admins, [admin]);

    const updates: Array<[WireMessage, UpdateMeta]> = [];
    o.on('update', (m, meta) => updates.push([m, meta]));
    const sent = await c.send(group.id, 'off topic');
    await a.delete(group.id, sent.messageId);
    await new Promise<void>((resolve) => {
      const check = () =>
        updates.some(([m]) => m.id === sent.messageId) ? resolve() : setTimeout(check, 20);
      check();
    });
    const [, meta] = updates.find(([m]) => m.id === sent.messageId)!;
    assert.equal(meta.kind, 'delete');
    assert.equal(meta.by, admin);

    const { banned, conversation } = await a.ban(group.id, carol);
    assert.deepEqual(banned, [carol]);
    assert.ok(!conversation.members.includes(carol));
    assert.equal(await code(o.addMembers(group.id, [carol])), 'banned');
    assert.deepEqual((await a.unban(group.id, carol)).banned, []);
    assert.ok((await o.addMembers(group.id, [carol])).members.includes(carol));
  });

  it('blocks, lists and unblocks; the blocked user gets `blocked` and stays connected', async () => {
    const [alice, mallory] = [sdkUser('alice'), sdkUser('mal')];
    const a = sdkClient(gw.url, alice);
    const m = sdkClient(gw.url, mallory);
    await Promise.all([a.connect(), m.connect()]);
    const dm = await m.openDirect(alice);
    assert.deepEqual(await a.block(mallory), [mallory]);
    assert.deepEqual(await a.listBlocks(), [mallory]);
    assert.equal(await code(m.send(dm.id, 'hello?')), 'blocked');
    assert.deepEqual(await a.unblock(mallory), []);
    await m.send(dm.id, 'thanks');
  });
});
