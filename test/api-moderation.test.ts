/**
 * The server API's moderation routes (src/api/routes/moderation.ts), their handlers called
 * directly on an embedded gateway: the server sets roles and bans with the owner's authority,
 * connected members see the effect, bad requests get typed errors, and nobody bans the owner.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiRequest, ApiRoute } from '../src/api/route.ts';
import { moderationRoutes } from '../src/api/routes/moderation.ts';
import type { WireConversation } from '../src/protocol/index.ts';
import { ChatError } from '../src/protocol/index.ts';
import type { TestClient } from './helpers/client.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';
import { scenarioClients, scenarioUser } from './helpers/scenario-clients.ts';

function request<B>(params: Record<string, string>, body: B): ApiRequest<B> {
  return {
    params,
    query: new URLSearchParams(),
    body,
    principal: { kind: 'api-key', id: 'backend' },
    idempotencyKey: null,
  };
}

describe('server API: moderation routes', () => {
  let gw: TestGateway;
  let routes: Map<string, ApiRoute>;
  const { open, closeAll } = scenarioClients(() => ({ urls: [gw.url], stop: async () => {} }));

  before(async () => {
    gw = await startTestGateway();
    routes = new Map(moderationRoutes(gw.gateway).map((r) => [r.operationId, r]));
  });
  after(async () => {
    await closeAll();
    await gw.stop();
  });

  const call = (op: string, params: Record<string, string>, body: unknown = undefined) => {
    const route = routes.get(op)!;
    const parsed = route.body ? route.body.parse(body) : undefined;
    return route.handle(request(params, parsed)).then((r) => route.response.parse(r));
  };

  it('lists its routes with schemas', () => {
    assert.deepEqual([...routes.keys()].sort(), ['banUser', 'setRole', 'unbanUser']);
    for (const r of routes.values()) assert.ok(r.path.startsWith('/v1/conversations/{id}/'));
  });

  it('sets a role and bans with the owner authority; members see it', async () => {
    const [owner, bob, eve] = [scenarioUser('own'), scenarioUser('bob'), scenarioUser('eve')];
    const o: TestClient = await open(0, owner);
    const e = await open(0, eve);
    const conv = (await o.call('createGroup', { title: 'api', members: [bob, eve] })).conversation.id;

    const set = (await call('setRole', { id: conv, userId: bob }, { role: 'admin' })) as {
      conversation: WireConversation;
    };
    assert.deepEqual(set.conversation.admins, [bob]);
    await o.waitFor((f) => f.op === 'conversation' && f.event === 'roles_changed');

    const banned = (await call('banUser', { id: conv, userId: eve })) as { banned: string[] };
    assert.deepEqual(banned.banned, [eve]);
    await e.waitFor((f) => f.op === 'conversation' && f.event === 'members_removed');
    assert.equal((await o.request('addMembers', { conversationId: conv, userIds: [eve] })).code, 'banned');
    const unbanned = (await call('unbanUser', { id: conv, userId: eve })) as { banned: string[] };
    assert.deepEqual(unbanned.banned, []);
    await o.call('addMembers', { conversationId: conv, userIds: [eve] });

    // Nobody bans the owner or changes their role; bad ids and unknown groups are typed errors.
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (err: unknown) => (err instanceof ChatError ? err.code : String(err)),
      );
    assert.equal(await code(call('banUser', { id: conv, userId: owner })), 'forbidden');
    assert.equal(await code(call('setRole', { id: conv, userId: owner }, { role: 'member' })), 'forbidden');
    assert.equal(
      await code(call('setRole', { id: conv, userId: 'nobody' }, { role: 'admin' })),
      'invalid_field',
    );
    assert.equal(await code(call('banUser', { id: 'g:1', userId: eve })), 'not_found');
    assert.equal(await code(call('banUser', { id: 'nope', userId: eve })), 'invalid_field');
    assert.equal(await code(call('banUser', { id: conv, userId: 'bad id!' })), 'invalid_field');
    assert.equal(
      await code(call('banUser', { id: `dm:${[owner, bob].sort().join(':')}`, userId: eve })),
      'not_found',
    );
  });
});
