import type { Redis } from 'ioredis';
import type { RedisKeys } from '../../snapshot-store/keys.ts';
import { PartitionStore, type CommitOutcome } from '../../snapshot-store/partition-commit.ts';
import type { BatchEffects } from '../../projection/fold-batch.ts';
import { decodePartitionState, encodeMetaChanges, encodeServiceFold } from '../../projection/fold-codec.ts';
import type { PartitionState } from '../../projection/fold-state.ts';

/** One partition batch's effects (as the fold computed them), committed with the offsets in one atomic step. */
export interface BatchCommit
  extends Pick<
      BatchEffects,
      'serviceUpserts' | 'serviceDeletes' | 'resourceUpserts' | 'resourceDeletes' | 'epochs' | 'resyncedSources'
    >,
    Partial<Pick<BatchEffects, 'tombstones'>> {
  partition: number;
  expectedOffset: string;
  expectedLineage?: string;
  nextOffset: string;
}

export interface LoadedPartition {
  state: PartitionState;
  offset: string;
  lineage: string;
}

/** The projector's adapter to the snapshot store: encodes folds for it and decodes what it stored. */
export class ProjectorStore {
  private readonly store: PartitionStore;

  constructor(
    redis: Redis,
    readonly keys: RedisKeys,
    sourceIds: string[],
    streamMaxLen: number,
  ) {
    this.store = new PartitionStore(redis, keys, sourceIds, streamMaxLen);
  }

  /** The folded state, stored offset and lineage of a partition, as the last committed batch left them. */
  async loadPartition(partition: number): Promise<LoadedPartition> {
    const stored = await this.store.load(partition);
    return {
      state: decodePartitionState(stored.services, stored.meta),
      offset: stored.offset,
      lineage: stored.lineage,
    };
  }

  commit(c: BatchCommit, partitionCount: number): Promise<CommitOutcome> {
    const meta = encodeMetaChanges(c.epochs, c.tombstones ?? new Map());
    const serviceUpserts = new Map<string, string>();
    for (const [k, v] of c.serviceUpserts) serviceUpserts.set(k, encodeServiceFold(v));
    return this.store.commit(
      {
        partition: c.partition,
        expectedOffset: c.expectedOffset,
        expectedLineage: c.expectedLineage,
        nextOffset: c.nextOffset,
        serviceUpserts,
        serviceDeletes: c.serviceDeletes,
        resourceUpserts: c.resourceUpserts,
        resourceDeletes: c.resourceDeletes,
        metaSets: meta.sets,
        metaDeletes: meta.deletes,
        resyncedSources: c.resyncedSources,
      },
      partitionCount,
    );
  }
}
