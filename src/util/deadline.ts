/**
 * Timers for async code, in one place (nats.js keeps `deadline()` / `delay()` the same way).
 * The deadline timers are unref'd and cleared when the promise settles: a deadline never keeps
 * the process alive nor outlives what it guards. The promise itself is not cancelled.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineError } from '../errors.ts';

/** Resolves after `ms`. Keeps the process alive meanwhile (a pause inside a shutdown must finish). */
export function delay(ms: number): Promise<void> {
  return sleep(ms);
}

/** Settles like `p`, or rejects with a `DeadlineError` carrying `message` once `ms` passed. */
export function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return race(p, ms, (_, reject) => reject(new DeadlineError(message, ms)));
}

/** Resolves like `p`, or with `fallback` once `ms` passed (a rejection of `p` still rejects). */
export function settleWithin<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return race<T | F>(p, ms, (resolve) => resolve(fallback));
}

function race<T>(
  p: Promise<T>,
  ms: number,
  onTimeout: (resolve: (v: T) => void, reject: (err: Error) => void) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => onTimeout(resolve, reject), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
