/**
 * Coalesces `locate` lookups: every lookup asked for in one event-loop turn goes to the presence
 * store in one pipelined round trip, each user asked once however many sends asked about them
 * (the members of a busy group). The batch leaves at `setImmediate`, after the I/O callbacks of
 * the turn that asked: with nothing else pending that is at once, so light load keeps its
 * latency. Every lookup of a batch was asked before the batch left, so each still reads
 * presence after it was called (the connect-order argument in docs/architecture.md needs that).
 */
import type { Whereabouts } from './types.ts';

/** Users per script call: they are unpacked as Lua arguments. */
export const LOCATE_CHUNK = 500;

/**
 * Runs one LOCATE call per argument list (`[fromGatewayId, ...userIds]`) in one round trip and
 * returns the replies in order.
 */
export type RunLocates = (argLists: string[][]) => Promise<unknown[]>;

interface Request {
  userIds: readonly string[];
  from: string;
  resolve: (w: Whereabouts) => void;
  reject: (err: unknown) => void;
}

export class LocateBatcher {
  private pending: Request[] = [];
  private scheduled = false;
  /** Batches sent and users looked up, for tests and metrics. */
  batches = 0;
  usersLookedUp = 0;

  constructor(private readonly run: RunLocates) {}

  locate(userIds: readonly string[], from: string): Promise<Whereabouts> {
    if (userIds.length === 0) return Promise.resolve({ gateways: new Map(), elsewhere: new Set() });
    return new Promise((resolve, reject) => {
      this.pending.push({ userIds, from, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const batch = this.pending;
        this.pending = [];
        void this.flush(batch);
      });
    });
  }

  private async flush(batch: Request[]): Promise<void> {
    // Per asking gateway (in practice one per instance): the users of all its requests, once.
    const byFrom = new Map<string, Set<string>>();
    for (const r of batch) {
      let users = byFrom.get(r.from);
      if (!users) {
        users = new Set();
        byFrom.set(r.from, users);
      }
      for (const u of r.userIds) users.add(u);
    }
    const calls: { from: string; users: string[] }[] = [];
    for (const [from, set] of byFrom) {
      const users = [...set];
      for (let i = 0; i < users.length; i += LOCATE_CHUNK) {
        calls.push({ from, users: users.slice(i, i + LOCATE_CHUNK) });
      }
      this.usersLookedUp += users.length;
    }
    this.batches++;
    let replies: unknown[];
    try {
      replies = await this.run(calls.map((c) => [c.from, ...c.users]));
    } catch (err) {
      for (const r of batch) r.reject(err);
      return;
    }
    // from → user → gateways holding them
    const found = new Map<string, Map<string, string[]>>();
    try {
      for (const [i, call] of calls.entries()) {
        let where = found.get(call.from);
        if (!where) {
          where = new Map();
          found.set(call.from, where);
        }
        for (const [gateway, indexes] of parseReply(replies[i], call.users.length)) {
          for (const at of indexes) {
            const user = call.users[at]!;
            const gws = where.get(user);
            if (gws) gws.push(gateway);
            else where.set(user, [gateway]);
          }
        }
      }
    } catch (err) {
      for (const r of batch) r.reject(err);
      return;
    }
    for (const r of batch) r.resolve(whereabouts(r.userIds, found.get(r.from)));
  }
}

function whereabouts(userIds: readonly string[], where: Map<string, string[]> | undefined): Whereabouts {
  const out: Whereabouts = { gateways: new Map(), elsewhere: new Set() };
  if (!where) return out;
  for (const user of userIds) {
    const gws = where.get(user);
    if (!gws || out.elsewhere.has(user)) continue;
    out.elsewhere.add(user);
    for (const gw of gws) {
      const users = out.gateways.get(gw);
      if (users) users.push(user);
      else out.gateways.set(gw, [user]);
    }
  }
  return out;
}

function parseReply(reply: unknown, users: number): [string, number[]][] {
  if (!Array.isArray(reply)) throw new Error('presence locate: malformed reply');
  return reply.map((row: unknown): [string, number[]] => {
    if (!Array.isArray(row) || row.length !== 2 || !Array.isArray(row[1])) {
      throw new Error('presence locate: malformed row');
    }
    const indexes = (row[1] as unknown[]).map(Number);
    if (indexes.some((i) => !Number.isInteger(i) || i < 0 || i >= users)) {
      throw new Error('presence locate: index out of range');
    }
    return [String(row[0]), indexes];
  });
}
