/**
 * A change record: one entry of the `changes` stream, appended by every commit that changed the snapshot.
 * Fields: v (the version it made), up and rm (resource fields upserted and removed, newline-separated), complete
 * ('1' once every source finished its first resync), p/from/to (the partition and offset range [from, to) the
 * version folded) and, on a rebuild's switch-over, rebuilt (the new lineage). Gateways read v/up/rm/complete; audit
 * reads the rest to name the live version a replay cut equals. The entry id is the commit's Redis time in ms.
 */
export interface ChangeRecord {
  /** Stream entry id "ms-seq". */
  id: string;
  version: number;
  /** Commit time (Redis clock), from the entry id. */
  timeMs: number;
  complete: boolean;
  /** Present when the projector records them: the committing partition and its [from, to) offsets. */
  partition?: number;
  from?: bigint;
  to?: bigint;
}

export function parseChangeRecord(id: string, fields: string[]): ChangeRecord {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const rec: ChangeRecord = {
    id,
    version: Number(f.v),
    timeMs: Number(id.split('-')[0]),
    complete: f.complete === '1',
  };
  if (f.p !== undefined && f.to !== undefined) {
    rec.partition = Number(f.p);
    rec.from = BigInt(f.from || '0');
    rec.to = BigInt(f.to);
  }
  return rec;
}
