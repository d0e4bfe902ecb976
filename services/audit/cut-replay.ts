import { writerSchemaOf } from '../../schemas/event-codec.ts';
import { decodeLazily } from '../../projection/decode-projection.ts';
import { Replay } from '../../projection/replay.ts';
import type { TopicMessage } from './topic-reader.ts';

/**
 * Where a replay stops, per partition: before the first message at or beyond `offsets[p]`, or before the first
 * message whose Kafka timestamp is later than `timeMs`. Either way the cut is an exclusive offset per partition — the
 * same meaning as the `offset` the projector stores in Redis ("next offset to consume").
 */
export type Cut =
  | { kind: 'offsets'; offsets: Map<number, bigint> }
  | { kind: 'time'; timeMs: number }
  | { kind: 'end' };

export interface CutResult {
  /** Exclusive offset per partition where this cut fell. */
  offsets: Map<number, bigint>;
  /** Resource field -> MCP Any bytes, exactly as the projector stores them in Redis. */
  resources: Map<string, Buffer>;
  /** Kafka time of the earliest event this cut excluded (over partitions), when the replay read one. */
  firstExcludedTimeMs?: number;
  /** Events included in this cut (decodable or not). */
  events: number;
}

export interface ReplayStats {
  events: number;
  applied: number;
  ignored: number;
  /** Events by the schema file they were written with. */
  bySchema: Record<string, number>;
  /** Messages the projector would dead-letter (not decodable); skipped exactly as it skips them. */
  undecodable: { partition: number; offset: bigint; reason: string }[];
  /** Time spent decoding Avro and folding (incl. building and encoding ServiceEntries; decoding is interleaved). */
  foldMs: number;
}

/**
 * Messages are folded in chunks: large batches let the fold coalesce many events of one service into one build. A
 * chunk is held as the raw messages and decoded as the fold consumes it, so superseded events die young.
 */
const CHUNK = 20_000;

interface PartitionRun {
  replay: Replay;
  pending: TopicMessage[];
  nextCut: number;
  results: (CutResult | undefined)[];
  lastOffset: bigint;
  events: number;
}

/**
 * Replays the topic to one or several cuts in a single pass. Each partition gets its own pure Replay (a mesh service
 * lives in exactly one partition), so a partition's resources can be captured the moment that partition reaches a cut,
 * whatever the interleaving of partitions in the fetches; the snapshot at a cut is the union over partitions.
 * Cuts must be given in ascending order (each partition's bound non-decreasing).
 */
export class CutReplay {
  private readonly runs = new Map<number, PartitionRun>();
  readonly stats: ReplayStats = { events: 0, applied: 0, ignored: 0, bySchema: {}, undecodable: [], foldMs: 0 };

  constructor(
    private readonly cuts: Cut[],
    partitions: number[],
  ) {
    for (const p of partitions)
      this.runs.set(p, { replay: new Replay(), pending: [], nextCut: 0, results: [], lastOffset: -1n, events: 0 });
  }

  /** Feeds one partition's messages in offset order. Returns 'stop' once the partition's last cut is reached. */
  feed(partition: number, messages: TopicMessage[]): 'more' | 'stop' {
    const run = this.run(partition);
    for (const m of messages) {
      while (run.nextCut < this.cuts.length && this.beyond(this.cuts[run.nextCut]!, partition, m))
        this.capture(partition, run, m.offset, m.timestamp);
      if (run.nextCut >= this.cuts.length) return 'stop';
      run.lastOffset = m.offset;
      run.events++;
      this.stats.events++;
      run.pending.push(m);
      if (run.pending.length >= CHUNK) this.flush(partition, run);
    }
    return 'more';
  }

  /** Ends the replay: cuts a partition has not reached yet fall at its end (`ends[p]`, exclusive). */
  finish(ends: Map<number, bigint>): CutResult[] {
    for (const [p, run] of this.runs) {
      while (run.nextCut < this.cuts.length) this.capture(p, run, ends.get(p) ?? run.lastOffset + 1n);
    }
    return mergeCutResults([...this.runs].sort(([a], [b]) => a - b).map(([, run]) => run.results as CutResult[]));
  }

  private run(partition: number): PartitionRun {
    const run = this.runs.get(partition);
    if (!run) throw new Error(`partition ${partition} was not announced to the replay`);
    return run;
  }

  private beyond(cut: Cut, partition: number, m: TopicMessage): boolean {
    switch (cut.kind) {
      case 'offsets':
        return m.offset >= (cut.offsets.get(partition) ?? 0n);
      case 'time':
        return m.timestamp > cut.timeMs;
      case 'end':
        return false;
    }
  }

  private flush(partition: number, run: PartitionRun): void {
    if (run.pending.length === 0) return;
    const t0 = performance.now();
    const fx = run.replay.apply(
      0,
      decodeLazily(
        run.pending,
        (m, reason) => this.stats.undecodable.push({ partition, offset: m.offset, reason }),
        (m) => {
          const schema = writerSchemaOf(m.value!)!;
          this.stats.bySchema[schema] = (this.stats.bySchema[schema] ?? 0) + 1;
        },
      ),
    );
    this.stats.foldMs += performance.now() - t0;
    this.stats.applied += fx.applied;
    this.stats.ignored += Object.values(fx.ignored).reduce((a, b) => a + (b ?? 0), 0);
    run.pending = [];
  }

  private capture(partition: number, run: PartitionRun, at: bigint, excludedTimeMs?: number): void {
    this.flush(partition, run);
    run.results[run.nextCut] = {
      offsets: new Map([[partition, at]]),
      resources: new Map(run.replay.resources),
      events: run.events,
      ...(excludedTimeMs !== undefined ? { firstExcludedTimeMs: excludedTimeMs } : {}),
    };
    run.nextCut++;
  }
}

export function sortedMap<V>(m: Map<string, V>): Map<string, V> {
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
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
      if (r.firstExcludedTimeMs !== undefined)
        firstExcluded = Math.min(firstExcluded ?? Infinity, r.firstExcludedTimeMs);
      events += r.events;
    }
    return {
      offsets: new Map([...offsets].sort(([a], [b]) => a - b)),
      resources: sortedMap(resources),
      events,
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
    out.undecodable.sort(
      (a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0),
    );
    out.bySchema = Object.fromEntries(Object.entries(out.bySchema).sort(([a], [b]) => (a < b ? -1 : 1)));
    return out;
  });
}
