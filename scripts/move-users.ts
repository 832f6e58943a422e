/**
 * Moves users to another home region through the server API of a gateway in their current home
 * region, then follows each move to its end, printing phase and progress, and prints the
 * verification report (docs/operations.md, "Moving users to another home region").
 *
 *   npm run move-users -- --user alice --user bob --to eu-west --url http://gw.us-east:8080
 *
 * Flags (or environment variables):
 *   --user ID          a user to move (repeatable; or --users a,b,c)
 *   --to REGION        the region to become their home (required)
 *   --url URL          CHAT_API_URL    a gateway of the users' current home region,
 *                                      default http://127.0.0.1:8080
 *   --key KEY          CHAT_API_KEY    an API key or admin token (sent as Authorization: Bearer)
 *   --watch            only follow moves already started (no POST)
 *   --timeout S        give up waiting after S seconds, default 3600
 *
 * Running it again for the same users resumes a move that stopped (its phase is stored).
 * Exit code 0 when every move is done with a clean report, 1 otherwise, 2 on bad arguments.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { HomeMove } from '../src/storage/home-moves.ts';
import { apiClient } from './api-client.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string', multiple: true, default: [] },
      users: { type: 'string', default: '' },
      to: { type: 'string' },
      url: { type: 'string', default: process.env.CHAT_API_URL ?? 'http://127.0.0.1:8080' },
      key: { type: 'string', default: process.env.CHAT_API_KEY ?? '' },
      watch: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '3600' },
    },
  });
  const users = [...values.user!, ...values.users!.split(',').filter(Boolean)];
  if (users.length === 0 || (!values.to && !values.watch)) {
    console.error(
      'usage: npm run move-users -- --user ID [--user ID ...] --to REGION [--url URL] [--key KEY]',
    );
    return 2;
  }
  const call = apiClient(values.url!, values.key!);

  if (!values.watch) {
    const started = (await call('POST', '/v1/home-moves', { userIds: users, to: values.to })) as {
      moves: HomeMove[];
    };
    for (const m of started.moves)
      console.log(`${m.userId}: ${m.from} → ${m.to}, move ${m.moveId} (${m.phase})`);
  }
  const deadline = Date.now() + Number(values.timeout) * 1000;
  for (;;) {
    const moves = await Promise.all(
      users.map(async (u) => (await call('GET', `/v1/home-moves/${encodeURIComponent(u)}`)) as HomeMove),
    );
    console.log(
      moves
        .map(
          (m) =>
            `${m.userId}: ${m.phase} (copied ${m.progress.copied} in ${m.progress.batches} batches, ` +
            `${m.progress.rounds} rounds, ${m.progress.cleaned} cleaned)${m.error ? ` — ${m.error}` : ''}`,
        )
        .join('; '),
    );
    const ended = moves.filter((m) => m.phase === 'done' || m.phase === 'failed' || m.error);
    if (ended.length === moves.length) {
      for (const m of moves) {
        const r = m.report;
        console.log(`\n${m.userId}: ${m.phase}${m.error ? ` — ${m.error}` : ''}`);
        if (!r) continue;
        console.log(
          `  verification: ${r.rounds} rounds, ${r.clean ? 'clean' : 'NOT clean'}, old ${r.oldCount} / new ${r.newCount}, ${r.transient} transient`,
        );
        for (const d of r.differences)
          console.log(`  difference: ${d.kind} ${d.messageId} (round ${d.round}), reconciled`);
        if (r.copiedMissing.length > 0) console.log(`  copied when found: ${r.copiedMissing.join(' ')}`);
        if (r.removedExtra.length > 0)
          console.log(`  removed from the new home: ${r.removedExtra.join(' ')}`);
      }
      return moves.every((m) => m.phase === 'done' && m.report?.clean !== false) ? 0 : 1;
    }
    if (Date.now() > deadline) {
      console.error(`gave up after ${values.timeout} s; follow them later with --watch`);
      return 1;
    }
    await sleep(1000);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
