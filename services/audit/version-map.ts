import type { ChangeRecord } from '../../snapshot-store/change-record.ts';

/**
 * Relating replay points to live snapshot versions.
 *
 * The projector advances the global version once per committed batch that changed something, and appends a change
 * record {v, up, rm, complete, p, from, to} to a bounded Redis stream; the stream entry id is the commit's Redis time
 * in ms. The batch's partition and offset range (p, from, to; gateways ignore them) make the relation exact; records
 * written before those fields existed leave the commit time as the only link, which is exact for a replay to a moment
 * when the projector had caught up, and approximate while it lagged.
 */

export interface VersionMatch {
  /** The live version whose snapshot this replay equals, or null when none can be named. */
  version: number | null;
  method: 'offsets' | 'commit-time' | 'none';
  note: string;
}

/** True when the stream still starts at version 1 (nothing trimmed, the lineage's whole history is known). */
const untrimmed = (records: ChangeRecord[]) => records.length > 0 && records[0]!.version === 1;

/** Where a replay stopped, as far as version matching needs it. */
export interface CutPosition {
  offsets: Map<number, bigint>;
  /** Kafka time of the earliest event the cut excluded (any partition); undefined when it excluded none it read. */
  firstExcludedTimeMs?: number;
}

/** The live snapshot's version and stored offsets, read atomically. */
export interface LivePosition {
  version: number;
  offsets: Map<number, bigint>;
}

const sameOffsets = (a: Map<number, bigint>, b: Map<number, bigint>) =>
  a.size === b.size && [...a].every(([p, o]) => b.get(p) === o);

/**
 * The live version whose snapshot equals the replay to this cut, in order of certainty:
 * 1. the cut is exactly where the live snapshot stands now: its version;
 * 2. change records carry partition offsets: the version whose offset window contains every partition's cut;
 * 3. otherwise by commit time: the last change committed before the first excluded event was even produced
 *    (exact when the projector had caught up in between, as it does in a quiet moment).
 */
export function versionForCut(records: ChangeRecord[], cut: CutPosition, live: LivePosition | undefined): VersionMatch {
  if (live && sameOffsets(cut.offsets, live.offsets))
    return {
      version: live.version,
      method: 'offsets',
      note: 'the replay stops exactly at the offsets stored with the live snapshot',
    };
  if (records.length === 0)
    return {
      version: null,
      method: 'none',
      note: 'no change records in Redis (no live snapshot, or its stream was lost)',
    };
  if (records.every((r) => r.partition !== undefined)) return byOffsets(records, cut.offsets);
  if (cut.firstExcludedTimeMs !== undefined)
    return versionAtTime(records, cut.firstExcludedTimeMs - 1, 'the first event after the cut');
  return {
    version: null,
    method: 'none',
    note: 'the replay reached the end of the topic but the projector has not (or has moved on since): run again when it has caught up',
  };
}

/** The version the live snapshot had at a time: the last change committed at or before it. */
export function versionAtTime(records: ChangeRecord[], timeMs: number, what = 'that time'): VersionMatch {
  const before = records.filter((r) => r.timeMs <= timeMs);
  if (before.length === 0) {
    if (untrimmed(records)) return { version: 0, method: 'commit-time', note: `nothing was committed before ${what}` };
    return {
      version: null,
      method: 'none',
      note: `the change stream no longer reaches back to ${what} (trimmed at version ${records[0]!.version})`,
    };
  }
  const v = before[before.length - 1]!.version;
  return {
    version: v,
    method: 'commit-time',
    note: `last change committed at or before ${what} (exact when the projector had caught up)`,
  };
}

function byOffsets(records: ChangeRecord[], offsets: Map<number, bigint>): VersionMatch {
  let lo = untrimmed(records) ? 0 : records[0]!.version; // versions [lo, hi] not excluded so far
  let hi = Number.MAX_SAFE_INTEGER;
  const unknownBelow = !untrimmed(records);
  for (const [p, cut] of offsets) {
    const mine = records.filter((r) => r.partition === p);
    for (const r of mine) {
      if (r.to! <= cut)
        lo = Math.max(lo, r.version); // this batch is inside the replay: the version is at least r.v
      else if (r.from! >= cut)
        hi = Math.min(hi, r.version - 1); // entirely after the cut: the version is before r.v
      else
        return {
          version: null,
          method: 'offsets',
          note: `partition ${p} cut at ${cut} falls inside the batch [${r.from}, ${r.to}) committed as version ${r.version}: no live snapshot held exactly this state`,
        };
    }
  }
  const last = records[records.length - 1]!.version;
  hi = Math.min(hi, last);
  if (lo > hi)
    return {
      version: null,
      method: 'offsets',
      note: `partitions were cut at different live moments (versions ${hi}..${lo}): no live snapshot held exactly this state`,
    };
  if (lo === records[0]!.version && unknownBelow && lo !== hi)
    return { version: null, method: 'none', note: 'the change stream was trimmed before this point' };
  return {
    version: lo,
    method: 'offsets',
    note: 'every partition cut lies between the change records of this version',
  };
}

/**
 * The per-partition offsets whose replay equals live version v (exact records), or undefined when the stream cannot
 * tell. For each partition: the `from` of its first change after v, else the offset stored in Redis now.
 */
export function offsetsForVersion(
  records: ChangeRecord[],
  version: number,
  stored: Map<number, bigint>,
): Map<number, bigint> | undefined {
  if (!records.every((r) => r.partition !== undefined) || records.length === 0) return undefined;
  if (version < records[0]!.version - 1) return undefined; // records between v and the first retained one are gone
  const out = new Map<number, bigint>();
  for (const [p, now] of stored) {
    const next = records.find((r) => r.partition === p && r.version > version);
    out.set(p, next ? next.from! : now);
  }
  return out;
}

/** The commit time of version v, for a time-based replay when records carry no offsets. */
export function timeOfVersion(records: ChangeRecord[], version: number): number | undefined {
  return records.find((r) => r.version === version)?.timeMs;
}
