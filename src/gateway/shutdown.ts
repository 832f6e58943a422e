/**
 * The bounded part of a gateway's stop: releasing the backing services in phases, each step of a
 * phase given at most `limits.closeTimeoutMs`. A step that takes longer (Redis, NATS or
 * Cassandra down: their clients wait on reconnects) is logged as cut short and left behind; the
 * process exits anyway, and what it held is released by the server side's timeouts.
 */
import type { LimitsConfig } from '../config/schema.ts';
import { DeadlineError } from '../errors.ts';
import { withDeadline } from '../util/deadline.ts';
import type { Logger } from '../util/log.ts';

/** Pause after closing the sockets so their close frames are written before services go. */
export const CLOSE_FLUSH_MS = 50;

/** Phases of `Gateway.stop` after the drain; `stopBoundMs` counts them. */
export const CLOSE_PHASES = 3;

/** The longest a gateway's stop takes: the drain, the flush pause, then each phase's bound. */
export function stopBoundMs(limits: Pick<LimitsConfig, 'drainTimeoutMs' | 'closeTimeoutMs'>): number {
  return limits.drainTimeoutMs + CLOSE_FLUSH_MS + CLOSE_PHASES * limits.closeTimeoutMs;
}

/**
 * Runs the steps of one phase side by side, each within `timeoutMs`. Never throws: a step that
 * fails is logged as failed, one that runs out of time as cut short. Resolves with the names of
 * the steps that did not finish cleanly.
 */
export async function closePhase(
  steps: Record<string, () => Promise<unknown>>,
  timeoutMs: number,
  log: Logger,
): Promise<string[]> {
  const names = Object.keys(steps);
  const results = await Promise.allSettled(
    names.map((name) => withDeadline(steps[name]!(), timeoutMs, `stop: ${name} did not finish`)),
  );
  const unclean: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    const step = names[i]!;
    unclean.push(step);
    if (r.reason instanceof DeadlineError) {
      log.warn({ step, timeoutMs }, `stop: ${step} cut short after ${timeoutMs} ms`);
    } else {
      log.error({ err: r.reason, step }, `stop: ${step} failed`);
    }
  });
  return unclean;
}
