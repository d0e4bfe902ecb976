import { logLevel } from 'kafkajs';

/** Consumer crashes kafkajs restarts from: connection trouble, retries exhausted on a retriable error, coordinator moves. */
const RETRIED_CRASH =
  /^Crash: (KafkaJS(NumberOfRetriesExceeded|ConnectionError|ConnectionClosedError|NoBrokerAvailableError|RequestTimeoutError|BrokerNotFound|LockTimeout)\b|KafkaJSProtocolError: .*(coordinator|leader|not available|loading|rebalanc))/i;

/**
 * What level a kafkajs log line gets in our logs. kafkajs logs at ERROR many conditions it retries itself; operators
 * page on ERROR, so the rule is:
 *  - `Response <Api>(...)` lines (a broker answered a request with an error code, e.g. "The coordinator is loading",
 *    CreateTopics "already exists", InitProducerId / GroupCoordinator while the coordinator moves): debug. The caller
 *    gets the error too: kafkajs retries it, or it reaches our code, which logs it with context at the level it deserves.
 *  - lines of a retry in progress (they carry retryCount / retryTime), connection errors and timeouts, a consumer
 *    `Crash:` that kafkajs restarts (`Restarting the consumer`), "re-joining the group": warn, and only the first of
 *    each kind per `quietMs` (see KafkaLogThrottle); repeats are debug.
 *  - any other ERROR (a listener or eachBatch threw, a crash that is not restarted, authentication): error.
 *  - WARN stays warn, INFO info, DEBUG debug.
 * Pure: `docs/operations.md` shows it as a table.
 */
export function kafkaLogLevel(
  level: logLevel,
  message: string,
  extra: Record<string, unknown>,
): 'error' | 'warn-transient' | 'warn' | 'info' | 'debug' {
  if (level > logLevel.WARN) return level === logLevel.INFO ? 'info' : 'debug';
  if (level === logLevel.WARN) return 'warn';
  if (level === logLevel.NOTHING) return 'debug';
  if (/^Response \w+\(/.test(message)) return 'debug';
  if (message.startsWith('Crash: ')) return RETRIED_CRASH.test(message) ? 'warn-transient' : 'error';
  if (extra.retryCount !== undefined || extra.retryTime !== undefined) return 'warn-transient';
  if (
    /^(Connection error|Connection timeout|Failed to connect|Restarting the consumer|The coordinator is not aware of this member)/.test(
      message,
    )
  )
    return 'warn-transient';
  return 'error';
}

/** Rate limit for transient kafkajs warnings: the first of a kind per `quietMs` is a warn, the rest debug. */
export class KafkaLogThrottle {
  private readonly last = new Map<string, number>();
  constructor(private readonly quietMs = 60_000) {}

  level(kind: string, now = Date.now()): 'warn' | 'debug' {
    const k = kind.replace(/\d+/g, '#');
    const at = this.last.get(k);
    if (at !== undefined && now - at < this.quietMs) return 'debug';
    this.last.set(k, now);
    return 'warn';
  }
}
