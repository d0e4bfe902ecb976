import type { Kafka } from 'kafkajs';
import type { Cut, CutResult, ReplayStats } from './cut-replay.ts';
import { readTopic, type PartitionRange } from './topic-reader.ts';
import { ReplayPool } from './replay-pool.ts';
import { Progress } from './progress.ts';

/** Per-partition read end for a cut: an offsets cut reads one message past it, to learn when the next event came. */
export function endsFor(cuts: Cut[], ranges: PartitionRange[]): Map<number, bigint> {
  return new Map(
    ranges.map((r) => {
      let end = 0n;
      for (const c of cuts) {
        const e =
          c.kind === 'offsets'
            ? c.offsets.get(r.partition)! + 1n < r.high
              ? c.offsets.get(r.partition)! + 1n
              : r.high
            : r.high;
        if (e > end) end = e;
      }
      return [r.partition, end];
    }),
  );
}

export interface TopicReplay {
  /** One per cut, in the order given. */
  results: CutResult[];
  stats: ReplayStats[];
  seconds: number;
  /** Worker threads that decoded and folded. */
  workers: number;
}

/**
 * Reads the topic once and replays it to each cut (each cut gets its own fold, so cuts need no particular order).
 * This thread only reads; worker threads decode and fold, each partition always in the same worker.
 */
export async function replayTopic(
  kafka: Kafka,
  topic: string,
  ranges: PartitionRange[],
  cuts: Cut[],
  label: string,
  opts: { workers?: number } = {},
): Promise<TopicReplay> {
  const partitions = ranges.map((r) => r.partition);
  const ends = endsFor(cuts, ranges);
  const total = ranges.reduce((n, r) => n + Number((ends.get(r.partition) ?? 0n) - r.low), 0);
  const progress = new Progress(label, total);
  const start = performance.now();
  const pool = new ReplayPool(cuts, partitions, opts.workers, (n) => progress.add(n));
  try {
    await readTopic(kafka, {
      topic,
      ends,
      onBatch: (p, messages) => pool.feed(p, messages),
    });
    const { results, stats } = await pool.finish(ends);
    progress.end();
    return { results, stats, seconds: (performance.now() - start) / 1000, workers: pool.workers };
  } finally {
    await pool.close();
  }
}
