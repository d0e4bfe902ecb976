import { MeshbridgeError } from '../../services/shared/errors.ts';
import type { SourceConfig } from '../../services/shared/config.ts';
import type { Logger } from '../../services/shared/log.ts';
import type { CollectorMetrics } from './metrics.ts';
import type { EventSink } from './publisher.ts';
import type { SourceCore } from './source-core.ts';

/** A watched registry. The leader of the source starts it; losing leadership stops it. */
export interface RegistrySource {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Full resync now (start-up, reconnect, session expiry, periodic, on demand). Ends with RESYNC_END. */
  resync(reason: string): Promise<void>;
  readonly connected: boolean;
  readonly firstResyncDone: boolean;
  /** The source's decider and what it currently holds (problems for /debug/problems). */
  readonly core: SourceCore;
}

export type SourceFactory = (
  src: SourceConfig,
  publisher: EventSink,
  log: Logger,
  metrics: CollectorMetrics,
) => RegistrySource;

/**
 * A full resync given up because its source is stopping (shutdown, or leadership lost). Its end marker is never
 * published — only a complete pass may delete what it did not see — and it is not retried: the next leader's start-up
 * pass replaces it.
 */
export class PassStopped extends MeshbridgeError {
  constructor(
    readonly done: number,
    readonly total: number,
  ) {
    super(`resync stopped after ${done} of ${total} items: the source is stopping`, {
      retriable: false,
      code: 'RESYNC_STOPPED',
      context: { done, total },
    });
    this.name = 'PassStopped';
  }
}

/**
 * Runs `fn` over `items` with at most `limit` in flight (resyncs of thousands of services). With `until`, takes no
 * new item once it returns true and then throws PassStopped, after the items in flight: a paced periodic pass over
 * 50,000 interfaces lasts minutes, and a stopping collector must not hold its shutdown (and its lease) for that.
 */
export async function forEachLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  until?: () => boolean,
): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length && !until?.()) {
      await fn(items[next++]!);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  // Even with every item taken: one in flight may have seen the stop and skipped its work.
  if (until?.()) throw new PassStopped(done, items.length);
}
