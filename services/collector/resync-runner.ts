import crypto from 'node:crypto';
import type { Logger } from '../../services/shared/log.ts';
import type { CollectorMetrics } from './metrics.ts';
import { PassStopped } from './source.ts';

export interface ResyncPass {
  /** Mesh hosts the source holds after the pass (its end marker lists them). */
  services: number;
  /** Extra fields for the "full resync done" log line. */
  logFields?: Record<string, unknown>;
}

/**
 * The part of a full resync every registry shares: one pass at a time (callers during a pass share it), a fresh
 * generation id per pass, duration and outcome in metrics and logs, and a retry after a failure. What a pass reads
 * and publishes is the source's own `pass` function.
 */
export class ResyncRunner {
  private inFlight: Promise<void> | undefined;
  /** Id of the current (or last started) pass: events published meanwhile belong to it. */
  generation = crypto.randomUUID();
  firstDone = false;

  constructor(
    private readonly o: {
      sourceId: string;
      log: Logger;
      metrics: CollectorMetrics;
      retryMs: number;
      isStopped: () => boolean;
      /** One pass; `reason` is run()'s ('start', 'periodic', 'reconnect', 'retry', …). */
      pass: (reason: string) => Promise<ResyncPass>;
      /** Called when a pass fails, before the retry is scheduled (e.g. mark the registry disconnected). */
      onFailure?: () => void;
    },
  ) {}

  run(reason: string): Promise<void> {
    if (this.o.isStopped()) return Promise.resolve();
    if (this.inFlight) return this.inFlight;
    this.inFlight = (async () => {
      const { sourceId, log, metrics } = this.o;
      const start = performance.now();
      const generation = crypto.randomUUID();
      this.generation = generation;
      try {
        const { services, logFields } = await this.o.pass(reason);
        this.firstDone = true;
        metrics.resyncs.inc({ source: sourceId, reason });
        metrics.resyncSeconds.observe({ source: sourceId }, (performance.now() - start) / 1000);
        log.info(
          { source: sourceId, reason, ...logFields, services, ms: Math.round(performance.now() - start) },
          'full resync done',
        );
      } catch (e) {
        if (e instanceof PassStopped) {
          log.info(
            { source: sourceId, reason, done: e.done, of: e.total, ms: Math.round(performance.now() - start) },
            'full resync stopped with its source; no end marker',
          );
          return;
        }
        if (this.o.isStopped()) {
          // Its reads were abandoned as the source stopped (e.g. ZooKeeper's client closed): nothing to retry.
          log.info(
            { source: sourceId, reason, err: (e as Error).message, ms: Math.round(performance.now() - start) },
            'full resync ended by its source stopping; no end marker',
          );
          return;
        }
        metrics.errors.inc({ source: sourceId, stage: 'resync' });
        this.o.onFailure?.();
        log.error({ source: sourceId, reason, err: (e as Error).message }, 'full resync failed; will retry');
        if (!this.o.isStopped()) setTimeout(() => void this.run('retry'), this.o.retryMs).unref();
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  /** Waits for a pass in flight, if any (shutdown). */
  async settle(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }
}
