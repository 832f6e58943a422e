/**
 * The one structured logger (pino): JSON lines on stdout, one object per event, with the
 * bindings of whoever logged it. `createLogger` makes the root; `startGateway` binds region and
 * gateway id, and every component adds `component` with `componentLogger`. Log an error as
 * `log.error({ err }, 'what failed')` so pino serialises its stack and cause.
 *
 * Tokens never reach the log: the redaction paths below are censored wherever they appear at
 * the top level or one object down (pino's paths are exact, not recursive).
 */
import { type DestinationStream, type LevelWithSilent, type Logger as PinoLogger, pino } from 'pino';

export type Logger = PinoLogger;

const SECRET_KEYS = ['token', 'authorization', 'secret', 'operatorToken', 'password'];
/** Censored at the top level and one level down (`*.token`): request fields and config objects. */
export const REDACT_PATHS = [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`)];

export interface LoggerOptions {
  /** `silent` logs nothing. The config's `log.level`, overridden by `CHAT_LOG_LEVEL`. */
  level: LevelWithSilent;
  /** Where the lines go: stdout (default), stderr, or a stream (tests collect the lines). */
  destination?: 'stdout' | 'stderr' | DestinationStream;
}

/** The process's root logger. */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // ISO times read in any log viewer; pino's default is epoch ms.
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination === 'stderr'
      ? pino.destination({ fd: 2, sync: true })
      : opts.destination === 'stdout'
        ? undefined
        : opts.destination,
  );
}

/** A logger that writes nothing: the default of components tests construct on their own. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** The logger of one component (`nats`, `presence`, `sessions`…), under its gateway's bindings. */
export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}
