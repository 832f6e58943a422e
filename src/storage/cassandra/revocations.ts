/**
 * The `RevocationStore` on Cassandra (migration 8, `schema.ts`): `token_revocations`, two
 * partitions (`token` and `user`), each small enough for every gateway to read whole. A token
 * row lives as long as its token would (TTL); a user row is written with its `before` as the
 * write timestamp, so the later of two revocations wins whatever order they are written in.
 */

import cassandra from 'cassandra-driver';
import type { Revocation, RevocationStore } from '../revocations.ts';
import { fromLong } from './rows.ts';
import type { CqlSession } from './session.ts';

const { Long } = cassandra.types;

/** A token row outlives its token by this much (clock skew between gateways). */
const TOKEN_ROW_SLACK_SEC = 300;

export class CassandraRevocations implements RevocationStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly db: CqlSession) {
    this.q = statements(db.ks);
  }

  async add(r: Revocation): Promise<void> {
    if (r.kind === 'token') {
      const ttl = Math.max(1, Math.ceil((r.expiresAt - Date.now()) / 1000)) + TOKEN_ROW_SLACK_SEC;
      await this.db.client.execute(this.q.insertToken, [r.jti, r.userId, r.expiresAt, ttl], {
        prepare: true,
      });
      return;
    }
    // Microseconds, as Cassandra's own write timestamps: a later `before` always wins.
    const ts = Long.fromNumber(r.before).multiply(1000);
    await this.db.client.execute(this.q.insertUser, [r.userId, r.userId, Long.fromNumber(r.before), ts], {
      prepare: true,
    });
  }

  async list(now: number): Promise<Revocation[]> {
    const out: Revocation[] = [];
    for (const scope of ['token', 'user'] as const) {
      // Paged: a partition can outgrow one page.
      let pageState: string | undefined;
      do {
        const rs = await this.db.client.execute(this.q.select, [scope], {
          prepare: true,
          fetchSize: 5000,
          pageState,
        });
        for (const row of rs.rows) {
          const key = String(row.get('key'));
          const userId = String(row.get('user_id'));
          const at = Number(fromLong(row.get('at')));
          if (scope === 'token') {
            if (at > now) out.push({ kind: 'token', jti: key, userId, expiresAt: at });
          } else out.push({ kind: 'user', userId, before: at });
        }
        pageState = rs.pageState ?? undefined;
      } while (pageState);
    }
    return out;
  }
}

function statements(ks: string) {
  return {
    insertToken: `INSERT INTO ${ks}.token_revocations (scope, key, user_id, at) VALUES ('token', ?, ?, ?) USING TTL ?`,
    insertUser: `INSERT INTO ${ks}.token_revocations (scope, key, user_id, at) VALUES ('user', ?, ?, ?) USING TIMESTAMP ?`,
    select: `SELECT key, user_id, at FROM ${ks}.token_revocations WHERE scope = ?`,
  };
}
