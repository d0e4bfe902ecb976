import type { Logger } from '../../services/shared/log.ts';

/**
 * Crash-test hooks. A failpoint halts the projector at a precise point of the N-th non-empty batch so that a test
 * can kill -9 the real process exactly there (a test cannot time a signal that precisely from outside). Off unless
 * MESHBRIDGE_PROJECTOR_FAILPOINT is set, e.g. `after-fold:3` (folded in memory, nothing written: mid-batch) or
 * `after-commit:3` (Redis committed; DLQ already sent; Kafka offset, metrics, heartbeat not yet).
 */
export type FailpointAt = 'after-fold' | 'after-commit';
export interface Failpoint {
  at: FailpointAt;
  batch: number;
}

export function parseFailpoint(spec: string | undefined): Failpoint | undefined {
  if (!spec) return undefined;
  const m = /^(after-fold|after-commit):(\d+)$/.exec(spec.trim());
  if (!m) throw new Error(`MESHBRIDGE_PROJECTOR_FAILPOINT="${spec}": expected after-fold:N or after-commit:N`);
  return { at: m[1] as FailpointAt, batch: Number(m[2]) };
}

export class Failpoints {
  private batches = 0;
  constructor(
    private readonly fp: Failpoint | undefined,
    private readonly log: Logger,
  ) {}

  /** Numbers a batch (partitions are folded concurrently, so each batch carries its own number to `hit`). */
  nextBatch(): number {
    return ++this.batches;
  }

  /** Never resolves when the failpoint is reached: the process stays frozen there until it is killed. */
  async hit(at: FailpointAt, batch: number, detail: Record<string, unknown>): Promise<void> {
    if (!this.fp || this.fp.at !== at || batch !== this.fp.batch) return;
    this.log.error({ failpoint: `${at}:${this.fp.batch}`, ...detail }, 'failpoint reached; halting until killed');
    await new Promise<never>(() => undefined);
  }
}
