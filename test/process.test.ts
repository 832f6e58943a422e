/**
 * The gateway as an OS process, as `npm start` runs it (compiled, `node dist/main.js`): SIGKILL loses nothing that was acked,
 * SIGTERM drains (every in-flight send is acked or refused, sockets close 1001).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestClient } from './helpers/client.ts';
import { compiledGatewayArgs } from './helpers/gateway-process.ts';
import { freePort } from './helpers/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startServer(port: number, dataDir: string, extraEnv: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, compiledGatewayArgs(), {
    cwd: ROOT,
    env: { ...process.env, CHAT_PORT: String(port), CHAT_DATA_DIR: dataDir, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
  });
  child.stderr!.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc = { child, output: () => out, exited };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const check = () => {
      if (out.includes('listening')) {
        clearTimeout(timer);
        resolve(proc);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

async function devToken(port: number, user: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/dev/token?user=${user}`);
  return ((await res.json()) as { token: string }).token;
}

describe('gateway process', () => {
  let dataDir: string;
  let port: number;
  let server: Proc | null = null;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'chat-proc-'));
    port = await freePort();
  });
  after(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints its URL and how to get a token', async () => {
    server = await startServer(port, dataDir);
    assert.match(server.output(), new RegExp(`ws://127\\.0\\.0\\.1:${port}/ws`));
    assert.match(server.output(), /dev\/token\?user=alice/);
  });

  it('loses nothing acked when SIGKILLed and restarted', async () => {
    const url = `ws://127.0.0.1:${port}/ws`;
    const alice = await TestClient.connect(url, await devToken(port, 'alice'));
    const bob = await TestClient.connect(url, await devToken(port, 'bob'));
    await bob.waitFor((f) => f.op === 'synced');
    await bob.close();
    // Let the server register bob's disconnect so messages go to his queue.
    for (;;) {
      const p = await alice.call('presence', { userIds: ['bob'] });
      if (p.users[0]?.status === 'offline') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const acked: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await alice.request('send', {
        conversationId: 'dm:alice:bob',
        body: `k${i}`,
        clientMsgId: `k${i}`,
      });
      assert.equal(r.op, 'sent');
      acked.push(String(r.messageId));
    }
    server!.child.kill('SIGKILL');
    await server!.exited;
    await alice.waitClose();
    server = await startServer(port, dataDir);
    const bob2 = await TestClient.connect(url, await devToken(port, 'bob'));
    const synced = await bob2.waitFor((f) => f.op === 'synced');
    assert.equal(synced.count, 50);
    assert.deepEqual(
      bob2.messages('dm:alice:bob').map((m) => m.id),
      acked,
    );
    // A resend after the crash is recognised as the same message.
    const alice2 = await TestClient.connect(url, await devToken(port, 'alice'));
    const again = await alice2.request('send', {
      conversationId: 'dm:alice:bob',
      body: 'k49',
      clientMsgId: 'k49',
    });
    assert.equal(again.duplicate, true);
    assert.equal(again.messageId, acked[49]);
    await bob2.close();
    await alice2.close();
  });

  it('drains on SIGTERM: in-flight sends are acked or refused, sockets close with 1001', async () => {
    const url = `ws://127.0.0.1:${port}/ws`;
    const alice = await TestClient.connect(url, await devToken(port, 'alice'));
    await alice.waitFor((f) => f.op === 'synced');
    for (let i = 0; i < 20; i++) {
      alice.sendRaw(
        JSON.stringify({
          op: 'send',
          id: `t${i}`,
          conversationId: 'dm:alice:carol',
          body: `t${i}`,
          clientMsgId: `t${i}`,
        }),
      );
    }
    server!.child.kill('SIGTERM');
    assert.equal(await alice.waitClose(), 1001);
    assert.equal(await server!.exited, 0);
    const acked = alice.frames.filter((f) => f.op === 'sent').map((f) => String(f.messageId));
    const refused = alice.frames.filter((f) => f.op === 'error' && f.code === 'shutting_down');
    assert.ok(acked.length + refused.length <= 20);
    server = await startServer(port, dataDir);
    const carol = await TestClient.connect(url, await devToken(port, 'carol'));
    const hist = await carol.call('history', {
      conversationId: 'dm:alice:carol',
      limit: 100,
    });
    const stored = new Set(hist.messages.map((m) => m.id));
    for (const id of acked) assert.ok(stored.has(id), `acked ${id} is stored`);
    await carol.close();
  });
});
