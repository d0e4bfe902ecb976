import { emptyPartitionState, type FoldEvent, type PartitionState } from './fold-state.ts';
import { foldBatch, type BatchEffects } from './fold-batch.ts';

/**
 * A snapshot recomputed from events alone — the reference every live snapshot must equal byte for byte (rebuild,
 * audit replay, `verify`, crash tests). Events are applied per partition in offset order; batching does not change
 * the result.
 */
export class Replay {
  readonly partitions = new Map<number, PartitionState>();
  /** Resource field -> encoded MCP Any bytes, as the projector stores them in Redis. */
  readonly resources = new Map<string, Buffer>();
  /** Resyncs completed per source, as the set of partitions whose marker was applied. */
  readonly resynced = new Map<string, Set<number>>();
  applied = 0;
  ignored = 0;

  apply(partition: number, events: Iterable<FoldEvent>): BatchEffects {
    let state = this.partitions.get(partition);
    if (!state) {
      state = emptyPartitionState();
      this.partitions.set(partition, state);
    }
    const fx = foldBatch(state, events);
    for (const f of fx.resourceDeletes) this.resources.delete(f);
    for (const [f, b] of fx.resourceUpserts) this.resources.set(f, b);
    for (const s of fx.resyncedSources) {
      const set = this.resynced.get(s) ?? new Set<number>();
      set.add(partition);
      this.resynced.set(s, set);
    }
    this.applied += fx.applied;
    this.ignored += Object.values(fx.ignored).reduce((a, b) => a + (b ?? 0), 0);
    return fx;
  }

  /** Complete in the projector's sense: every given source has finished a resync on every partition. */
  complete(sourceIds: string[], partitionCount: number): boolean {
    return sourceIds.every((s) => (this.resynced.get(s)?.size ?? 0) >= partitionCount);
  }
}
