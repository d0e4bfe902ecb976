import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout (one line per event), level from MESHBRIDGE_LOG_LEVEL. */
export function createLogger(role: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level: process.env.MESHBRIDGE_LOG_LEVEL ?? 'info',
    base: { role, pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
