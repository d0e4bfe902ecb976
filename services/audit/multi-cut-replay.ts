import { CutReplay, sortedMap, type Cut, type CutResult, type ReplayStats } from './cut-replay.ts';
import type { PartitionVerdict, TopicMessage } from './topic-reader.ts';

/**
 * Replays a set of partitions to several cuts in one pass: each cut gets its own fold (cuts need no particular
 * order), and a partition is done once every cut has reached it. Pure; a replay worker thread runs one over its share
 * of the partitions, and the shares are merged with mergeCutResults / mergeReplayStats.
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

/** Unions per-cut results computed over disjoint sets of partitions (each share: one result per cut). */
export function mergeCutResults(shares: CutResult[][]): CutResult[] {
  const cuts = shares[0]?.length ?? 0;
  return Array.from({ length: cuts }, (_, i) => {
    const offsets = new Map<number, bigint>();
    const resources = new Map<string, Buffer>();
    let firstExcluded: number | undefined;
    let events = 0;
    for (const share of shares) {
      const r = share[i]!;
      for (const [p, o] of r.offsets) offsets.set(p, o);
      for (const [k, v] of r.resources) resources.set(k, v);
      if (r.firstExcludedTimeMs !== undefined) firstExcluded = Math.min(firstExcluded ?? Infinity, r.firstExcludedTimeMs);
      events += r.events;
    }
    return {
      offsets: new Map([...offsets].sort(([a], [b]) => a - b)), resources: sortedMap(resources), events,
      ...(firstExcluded !== undefined ? { firstExcludedTimeMs: firstExcluded } : {}),
    };
  });
}

export function mergeReplayStats(shares: ReplayStats[][]): ReplayStats[] {
  const cuts = shares[0]?.length ?? 0;
  return Array.from({ length: cuts }, (_, i) => {
    const out: ReplayStats = { events: 0, applied: 0, ignored: 0, bySchema: {}, undecodable: [], foldMs: 0 };
    for (const share of shares) {
      const s = share[i]!;
      out.events += s.events;
      out.applied += s.applied;
      out.ignored += s.ignored;
      out.foldMs += s.foldMs;
      for (const [schema, n] of Object.entries(s.bySchema)) out.bySchema[schema] = (out.bySchema[schema] ?? 0) + n;
      out.undecodable.push(...s.undecodable);
    }
    out.undecodable.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    out.bySchema = Object.fromEntries(Object.entries(out.bySchema).sort(([a], [b]) => (a < b ? -1 : 1)));
    return out;
  });
}
