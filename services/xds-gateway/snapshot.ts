import type { ServedKind } from '../../schemas/type-urls.ts';
import { parseResourceField, resourceField } from '../../snapshot-store/resource-field.ts';

/**
 * An immutable, versioned snapshot: the encoded resources at one global version. Resources are kept as the bytes the
 * projector wrote (MCP `Any`), never re-encoded, and listed per kind in name order so every replica that holds the
 * same version sends identical bytes.
 */
export interface Snapshot {
  readonly version: number;
  readonly lineage: string;
  readonly complete: boolean;
  /** Per kind: its resources in name order, and when that list last changed. */
  readonly kinds: Readonly<Record<ServedKind, KindList>>;
  /** Resources held (every kind). */
  readonly size: number;
  /**
   * performance.now() when the oldest change this snapshot holds beyond its predecessor was read from Redis (change →
   * push latency; the time of the read for a full load).
   */
  readonly readAt: number;
  /** Resource field -> bytes, built on demand (debug views and tests; pushes use the kind lists). */
  readonly resources: ReadonlyMap<string, Buffer>;
}

export interface KindList {
  /**
   * When this kind's list last changed, as a gateway-local sequence number (not the global version: after Redis lost
   * its data or a rebuild switched lineage, global versions restart and could repeat one already sent).
   */
  readonly changedAt: number;
  /** "namespace/name", sorted (code-unit order, the same on every replica). */
  readonly names: readonly string[];
  readonly items: readonly Buffer[];
}

const KINDS: ServedKind[] = ['ServiceEntry'];
let changeSeq = 0;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function make(version: number, lineage: string, complete: boolean, kinds: Record<ServedKind, KindList>, readAt: number): Snapshot {
  let map: Map<string, Buffer> | undefined;
  let size = 0;
  for (const k of KINDS) size += kinds[k].names.length;
  return {
    version, lineage, complete, kinds, size, readAt,
    get resources() {
      if (!map) {
        map = new Map();
        for (const k of KINDS) {
          for (const [i, n] of kinds[k].names.entries()) map.set(resourceField(k, n), kinds[k].items[i]!);
        }
      }
      return map;
    },
  };
}

/** A snapshot from a full read of Redis: every kind listed from scratch. */
export function fullSnapshot(version: number, lineage: string, complete: boolean, resources: ReadonlyMap<string, Buffer>, readAt = performance.now()): Snapshot {
  const kinds = {} as Record<ServedKind, KindList>;
  for (const kind of KINDS) {
    const fields: string[] = [];
    for (const field of resources.keys()) if (field.startsWith(`${kind}|`)) fields.push(field);
    fields.sort(cmp);
    kinds[kind] = { changedAt: ++changeSeq, names: fields.map((f) => f.slice(kind.length + 1)), items: fields.map((f) => resources.get(f)!) };
  }
  return make(version, lineage, complete, kinds, readAt);
}

/**
 * The next snapshot: `prev` with `changes` (resource field -> new bytes, or null when removed) applied, each touched
 * kind's sorted list patched in one linear merge — no copy of a resource map and no re-sort. Called once per push,
 * with every change record read since the previous one, not once per change record.
 */
export function patchSnapshot(prev: Snapshot, version: number, complete: boolean, changes: ReadonlyMap<string, Buffer | null>, readAt: number): Snapshot {
  const byKind = new Map<ServedKind, Map<string, Buffer | null>>();
  for (const [field, bytes] of changes) {
    const { kind, name } = parseResourceField(field);
    if (!KINDS.includes(kind)) continue;
    if (!byKind.has(kind)) byKind.set(kind, new Map());
    byKind.get(kind)!.set(name, bytes);
  }
  const kinds = {} as Record<ServedKind, KindList>;
  for (const kind of KINDS) {
    const t = byKind.get(kind);
    const list = prev.kinds[kind];
    if (t) kinds[kind] = patchList(list, t);
    // A completeness change re-offers every list (a stream withholding a kind waits for a new changedAt).
    else kinds[kind] = prev.complete === complete ? list : { ...list, changedAt: ++changeSeq };
  }
  return make(version, prev.lineage, complete, kinds, readAt);
}

function patchList(prev: KindList, touched: ReadonlyMap<string, Buffer | null>): KindList {
  const added = [...touched].filter(([, b]) => b !== null).sort(([a], [b]) => cmp(a, b)) as [string, Buffer][];
  const names: string[] = [];
  const items: Buffer[] = [];
  let j = 0;
  for (let i = 0; i < prev.names.length; i++) {
    const n = prev.names[i]!;
    while (j < added.length && added[j]![0] < n) { names.push(added[j]![0]); items.push(added[j]![1]); j++; }
    if (touched.has(n)) continue; // removed, or re-added from `added` in order
    names.push(n);
    items.push(prev.items[i]!);
  }
  for (; j < added.length; j++) { names.push(added[j]![0]); items.push(added[j]![1]); }
  return { changedAt: ++changeSeq, names, items };
}
