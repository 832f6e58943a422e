/** Loggers for tests: one that keeps what was logged, to assert on it. */
import { createLogger, type Logger } from '../../src/util/log.ts';

/** One logged line, parsed (pino's fields plus whatever the caller bound or passed). */
export interface LogRecord {
  level: number;
  msg: string;
  err?: { type: string; message: string; stack?: string };
  [key: string]: unknown;
}

/** A logger at `level` whose lines are parsed into `records` instead of written anywhere. */
export function collectingLogger(level: 'info' | 'debug' | 'error' = 'info'): {
  log: Logger;
  records: LogRecord[];
} {
  const records: LogRecord[] = [];
  const log = createLogger({
    level,
    destination: { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) },
  });
  return { log, records };
}
