import { CutReplay, type Cut, type CutResult, type ReplayStats } from './cut-replay.ts';
import type { PartitionVerdict, TopicMessage } from './topic-reader.ts';

/**
 * Replays a set of partitions to several cuts in one pass: each cut gets its own fold (cuts need no particular
 * order), and a partition is done once every cut has reached it. Pure; a replay worker thread runs one over its share
 * of the partitions, and the shares are merged with mergeCutResults / mergeReplayStats (cut-replay.ts).
 */
export class MultiCutReplay {
  private readonly replays: CutReplay[];
  private readonly active: Set<number>[];

  constructor(cuts: Cut[], partitions: number[]) {
    this.replays = cuts.map((c) => new CutReplay([c], partitions));
    this.active = cuts.map(() => new Set(partitions));
  }

  feed(partition: number, messages: TopicMessage[]): PartitionVerdict {
    let more = false;
    this.replays.forEach((r, i) => {
      const set = this.active[i]!;
      if (set.has(partition) && r.feed(partition, messages) === 'stop') set.delete(partition);
      if (set.has(partition)) more = true;
    });
    return more ? 'more' : 'stop';
  }

  /** One result and one set of statistics per cut, over this replay's partitions. */
  finish(ends: Map<number, bigint>): { results: CutResult[]; stats: ReplayStats[] } {
    return { results: this.replays.map((r) => r.finish(ends)[0]!), stats: this.replays.map((r) => r.stats) };
  }
}
