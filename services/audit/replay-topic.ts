import type { Kafka } from 'kafkajs';
import { CutReplay, type Cut, type CutResult } from './cut-replay.ts';
import { readTopic, type PartitionRange } from './topic-reader.ts';
import { Progress } from './progress.ts';

/** Per-partition read end for a cut: an offsets cut reads one message past it, to learn when the next event came. */
export function endsFor(cuts: Cut[], ranges: PartitionRange[]): Map<number, bigint> {
  return new Map(ranges.map((r) => {
    let end = 0n;
    for (const c of cuts) {
      const e = c.kind === 'offsets' ? (c.offsets.get(r.partition)! + 1n < r.high ? c.offsets.get(r.partition)! + 1n : r.high) : r.high;
      if (e > end) end = e;
    }
    return [r.partition, end];
  }));
}

/** Reads the topic once and replays it to each cut (each cut gets its own fold, so cuts need no particular order). */
export async function replayTopic(kafka: Kafka, topic: string, ranges: PartitionRange[], cuts: Cut[], label: string): Promise<{ results: CutResult[]; replays: CutReplay[]; seconds: number }> {
  const partitions = ranges.map((r) => r.partition);
  const replays = cuts.map((c) => new CutReplay([c], partitions));
  const ends = endsFor(cuts, ranges);
  const total = ranges.reduce((n, r) => n + Number((ends.get(r.partition) ?? 0n) - r.low), 0);
  const progress = new Progress(label, total);
  const start = performance.now();
  const active = new Map(replays.map((r, i) => [i, new Set(partitions)]));
  await readTopic(kafka, {
    topic, ends,
    onBatch: (p, messages) => {
      for (const [i, set] of active) {
        if (set.has(p) && replays[i]!.feed(p, messages) === 'stop') set.delete(p);
      }
      progress.add(messages.length);
      return [...active.values()].some((s) => s.has(p)) ? 'more' : 'stop';
    },
  });
  progress.end();
  const results = replays.map((r) => r.finish(ends)[0]!);
  return { results, replays, seconds: (performance.now() - start) / 1000 };
}

