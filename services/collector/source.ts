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

/** Runs `fn` over `items` with at most `limit` in flight (resyncs of thousands of services). */
export async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
