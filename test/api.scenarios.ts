/**
 * The server API end to end, over HTTP, against a deployment of one or more gateways
 * (`ApiEnv`): calls go to the first gateway, WebSocket users connect to the last, so with two
 * gateways every effect crosses the router. Run embedded (test/api-embedded.test.ts) and on
 * Cassandra + Redis + NATS (test/integration/api-real.test.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { CloseCode, SYSTEM_SENDER_ID } from '../src/protocol/index.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { token } from './helpers/gateway.ts';

export const API_KEY = 'test-api-key-0123456789abcdef';

export interface ApiEnv {
  /** HTTP base URLs of the gateways (`http://host:port`). */
  httpUrls: string[];
  /** WebSocket URLs of the same gateways. */
  wsUrls: string[];
  stop(): Promise<void>;
}

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** One API call with the test key (or `auth`), JSON in and out. */
export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiAnswer> {
  const res = await fetch(`${base}/api${path}`, {
    method,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const errorCode = (a: ApiAnswer) => (a.body.error as { code: string }).code;
const errorField = (a: ApiAnswer) => (a.body.error as { details?: { field?: string } }).details?.field;

export function apiScenarios(name: string, makeEnv: () => Promise<ApiEnv>): void {
  describe(`server API over HTTP: ${name}`, () => {
    let env: ApiEnv;
    let http: string;
    let ws: string;
    const tag = () => randomBytes(3).toString('hex');
    const open: TestClient[] = [];
    const connect = async (user: string, tok?: string) => {
      const c = await TestClient.connect(ws, tok ?? (await token(user)));
      open.push(c);
      await c.waitFor((f) => f.op === 'synced');
      return c;
    };

    before(async () => {
      env = await makeEnv();
      http = env.httpUrls[0]!;
      ws = env.wsUrls[env.wsUrls.length - 1]!;
    });
    after(async () => {
      await Promise.all(open.map((c) => c.close()));
      await env.stop();
    });

    it('serves the OpenAPI document with every core route', async () => {
      const res = await fetch(`${http}/api/openapi.json`);
      assert.equal(res.status, 200);
      const doc = (await res.json()) as {
        openapi: string;
        paths: Record<string, Record<string, { operationId: string }>>;
      };
      assert.equal(doc.openapi, '3.1.0');
      const ops = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
      for (const op of [
        'createConversation',
        'addMembers',
        'removeMember',
        'postMessage',
        'listMessages',
        'editMessage',
        'deleteMessage',
        'getPresence',
        'disconnectUser',
        'revokeTokens',
      ]) {
        assert.ok(ops.includes(op), op);
      }
    });

    it('refuses calls without a valid key (401) and validates bodies (400 invalid_field)', async () => {
      const noKey = await api(
        http,
        'POST',
        '/v1/conversations',
        { kind: 'group', title: 't', members: [] },
        { authorization: '' },
      );
      assert.equal(noKey.status, 401);
      assert.equal(errorCode(noKey), 'unauthorized');
      const bad = await api(http, 'POST', '/v1/conversations', { kind: 'group', title: '', members: ['ok'] });
      assert.equal(bad.status, 400);
      assert.equal(errorField(bad), 'title');
      const missing = await api(http, 'POST', '/v1/conversations/g:1/messages', {
        senderId: 'nobody',
        body: 'x',
      });
      assert.equal(missing.status, 404);
      assert.equal(errorCode(missing), 'not_found');
    });

    it('creates a group (idempotently), adds and removes members; members hear it live', async () => {
      const t = tag();
      const [alice, bob, carol] = [`a${t}`, `b${t}`, `c${t}`];
      const bobWs = await connect(bob);
      const body = { kind: 'group', title: 'Team', members: [alice, bob], createdBy: alice };
      const key = { 'idempotency-key': `grp-${t}` };
      const created = await api(http, 'POST', '/v1/conversations', body, key);
      assert.equal(created.status, 201);
      const conv = created.body.conversation as { id: string; members: string[]; createdBy: string };
      assert.deepEqual([...conv.members].sort(), [alice, bob].sort());
      assert.equal(conv.createdBy, alice);
      const again = await api(http, 'POST', '/v1/conversations', body, key);
      assert.equal((again.body.conversation as { id: string }).id, conv.id, 'same key, same group');
      await bobWs.waitFor(
        (f) => f.op === 'conversation' && (f.conversation as { id: string }).id === conv.id,
      );

      const added = await api(http, 'POST', `/v1/conversations/${conv.id}/members`, { userIds: [carol] });
      assert.equal(added.status, 200);
      assert.ok((added.body.conversation as { members: string[] }).members.includes(carol));
      const removed = await api(http, 'DELETE', `/v1/conversations/${conv.id}/members/${alice}`);
      assert.equal(removed.status, 200);
      assert.deepEqual(
        [...(removed.body.conversation as { members: string[] }).members].sort(),
        [bob, carol].sort(),
      );
      await bobWs.waitFor((f) => f.op === 'conversation' && f.event === 'members_removed');

      const dm = await api(http, 'POST', '/v1/conversations', { kind: 'direct', members: [alice, bob] });
      assert.equal(dm.status, 201);
      assert.equal(
        (dm.body.conversation as { id: string }).id,
        alice < bob ? `dm:${alice}:${bob}` : `dm:${bob}:${alice}`,
      );
    });

    it('posts as a user through the send path: live, deduplicated by Idempotency-Key, queued for the offline', async () => {
      const t = tag();
      const [alice, bob, dave] = [`a${t}`, `b${t}`, `d${t}`];
      const created = await api(http, 'POST', '/v1/conversations', {
        kind: 'group',
        title: 'x',
        members: [alice, bob, dave],
      });
      const convId = (created.body.conversation as { id: string }).id;
      const bobWs = await connect(bob);
      const key = { 'idempotency-key': `msg-${t}` };
      const sent = await api(
        http,
        'POST',
        `/v1/conversations/${convId}/messages`,
        { senderId: alice, body: 'hello' },
        key,
      );
      assert.equal(sent.status, 201);
      assert.equal(sent.body.duplicate, false);
      const live = await bobWs.waitFor(
        (f) => f.op === 'message' && (f.message as { id: string }).id === sent.body.messageId,
      );
      assert.equal((live.message as { senderId: string; body: string }).senderId, alice);
      const retry = await api(
        http,
        'POST',
        `/v1/conversations/${convId}/messages`,
        { senderId: alice, body: 'hello' },
        key,
      );
      assert.equal(retry.body.duplicate, true);
      assert.equal(retry.body.messageId, sent.body.messageId);
      // Dave was offline: the message waits in his queue.
      const daveWs = await connect(dave);
      assert.ok(daveWs.messages(convId).some((m) => m.id === sent.body.messageId));
      // The WebSocket's limits and errors.
      const tooLong = await api(http, 'POST', `/v1/conversations/${convId}/messages`, {
        senderId: alice,
        body: 'x'.repeat(100_000),
      });
      assert.equal(tooLong.status, 400);
      assert.equal(errorField(tooLong), 'body');
      const notMember = await api(http, 'POST', `/v1/conversations/${convId}/messages`, {
        senderId: `z${t}`,
        body: 'hi',
      });
      assert.equal(notMember.status, 404);
    });

    it('posts as the system sender, which clients can tell from users', async () => {
      const t = tag();
      const bob = `b${t}`;
      const created = await api(http, 'POST', '/v1/conversations', {
        kind: 'group',
        title: 'x',
        members: [bob],
      });
      const convId = (created.body.conversation as { id: string }).id;
      const bobWs = await connect(bob);
      const sent = await api(http, 'POST', `/v1/conversations/${convId}/messages`, {
        senderId: SYSTEM_SENDER_ID,
        body: 'maintenance at 5',
      });
      assert.equal(sent.status, 201);
      const live = await bobWs.waitFor(
        (f) => f.op === 'message' && (f.message as { id: string }).id === sent.body.messageId,
      );
      assert.equal((live.message as { senderId: string }).senderId, SYSTEM_SENDER_ID);
    });

    it("edits and deletes any user's message, and pages history", async () => {
      const t = tag();
      const [alice, bob] = [`a${t}`, `b${t}`];
      const created = await api(http, 'POST', '/v1/conversations', {
        kind: 'group',
        title: 'x',
        members: [alice, bob],
      });
      const convId = (created.body.conversation as { id: string }).id;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await api(http, 'POST', `/v1/conversations/${convId}/messages`, {
          senderId: alice,
          body: `m${i}`,
        });
        ids.push(r.body.messageId as string);
      }
      const bobWs = await connect(bob);
      const edited = await api(http, 'PATCH', `/v1/conversations/${convId}/messages/${ids[0]}`, {
        body: 'moderated',
      });
      assert.equal(edited.status, 200);
      assert.equal((edited.body.message as { body: string }).body, 'moderated');
      await bobWs.waitFor((f) => f.op === 'update' && (f.message as { body: string }).body === 'moderated');
      const deleted = await api(http, 'DELETE', `/v1/conversations/${convId}/messages/${ids[1]}`);
      assert.equal(deleted.status, 200);
      assert.equal((deleted.body.message as { state: { deleted: boolean } }).state.deleted, true);
      const again = await api(http, 'DELETE', `/v1/conversations/${convId}/messages/${ids[1]}`);
      assert.equal(again.body.duplicate, true);

      const page1 = await api(http, 'GET', `/v1/conversations/${convId}/messages?limit=3`);
      assert.equal(page1.status, 200);
      const msgs1 = page1.body.messages as { id: string }[];
      assert.deepEqual(
        msgs1.map((m) => m.id),
        [ids[4], ids[3], ids[2]],
      );
      assert.equal(page1.body.hasMore, true);
      const page2 = await api(http, 'GET', `/v1/conversations/${convId}/messages?limit=3&before=${ids[2]}`);
      assert.deepEqual(
        (page2.body.messages as { id: string }[]).map((m) => m.id),
        [ids[1], ids[0]],
      );
      assert.equal(page2.body.hasMore, false);
      const badLimit = await api(http, 'GET', `/v1/conversations/${convId}/messages?limit=abc`);
      assert.equal(errorField(badLimit), 'limit');
    });

    it("looks up presence and disconnects a user's sessions everywhere (4403); they may come back", async () => {
      const u = `p${tag()}`;
      const offline = await api(http, 'GET', `/v1/users/${u}/presence`);
      assert.equal(offline.body.status, 'offline');
      const c = await connect(u);
      await eventually(async () =>
        assert.equal((await api(http, 'GET', `/v1/users/${u}/presence`)).body.status, 'online'),
      );
      const r = await api(http, 'POST', `/v1/users/${u}/disconnect`, undefined, {
        'idempotency-key': `dc-${u}`,
      });
      assert.equal(r.status, 200);
      assert.equal(await c.waitClose(), CloseCode.Revoked);
      const back = await connect(u);
      // A retry of the same call does not end the session opened after it.
      const retry = await api(http, 'POST', `/v1/users/${u}/disconnect`, undefined, {
        'idempotency-key': `dc-${u}`,
      });
      assert.equal(retry.body.at, r.body.at);
      await back.call('ping');
    });

    it("revokes one token by jti, and all of a user's tokens issued until now", async () => {
      const u = `r${tag()}`;
      const first = await token(u);
      const second = await token(u);
      const jti = decodeJwt(first).jti;
      assert.ok(jti, 'minted tokens carry a jti');
      const c1 = await connect(u, first);
      const c2 = await connect(u, second);
      const one = await api(http, 'POST', `/v1/users/${u}/revoke`, { jti, expiresAt: Date.now() + 3600_000 });
      assert.equal(one.status, 200);
      assert.equal(await c1.waitClose(), CloseCode.Revoked);
      for (const url of env.wsUrls) assert.equal(await TestClient.connectExpectingStatus(url, first), 401);
      await c2.call('ping');

      const all = await api(http, 'POST', `/v1/users/${u}/revoke`, {});
      assert.equal((all.body.revocation as { kind: string }).kind, 'user');
      assert.equal(await c2.waitClose(), CloseCode.Revoked);
      for (const url of env.wsUrls) assert.equal(await TestClient.connectExpectingStatus(url, second), 401);
      // A token issued after the revocation (the next second on: `iat` has second precision) works.
      await eventually(async () => connect(u, await token(u)), { timeoutMs: 3000, intervalMs: 250 });
    });
  });
}
