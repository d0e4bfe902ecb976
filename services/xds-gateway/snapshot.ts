import type { ServedKind } from '../../schemas/type-urls.ts';
import { parseResourceField } from '../../snapshot-store/resource-field.ts';

/**
 * An immutable, versioned snapshot: the encoded resources at one global version. Resources are kept as the bytes the
 * projector wrote (MCP `Any`), never re-encoded, and listed per kind in name order so every replica that holds the
 * same version sends identical bytes.
 */
export interface Snapshot {
  readonly version: number;
  readonly lineage: string;
  readonly complete: boolean;
  readonly resources: ReadonlyMap<string, Buffer>;
  /** Per kind: its resources in name order, and when that list last changed. */
  readonly kinds: Readonly<Record<ServedKind, KindList>>;
  /** performance.now() when this state was read from Redis (change → push latency). */
  readonly readAt: number;
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

function fullList(kind: ServedKind, resources: ReadonlyMap<string, Buffer>): KindList {
  const fields: string[] = [];
  for (const field of resources.keys()) if (field.startsWith(`${kind}|`)) fields.push(field);
  fields.sort(cmp);
  return { changedAt: ++changeSeq, names: fields.map((f) => f.slice(kind.length + 1)), items: fields.map((f) => resources.get(f)!) };
}

/**
 * Applies a change of a few names to a sorted list in one linear merge — no re-sort of the whole kind per change
 * (with 10,000 services a full sort per change record dominated the change → push latency).
 */
function patchList(prev: KindList, kind: ServedKind, resources: ReadonlyMap<string, Buffer>, touched: Set<string>): KindList {
  const added = [...touched].filter((n) => resources.has(`${kind}|${n}`)).sort(cmp);
  const names: string[] = [];
  const items: Buffer[] = [];
  let j = 0;
  for (let i = 0; i < prev.names.length; i++) {
    const n = prev.names[i]!;
    while (j < added.length && added[j]! < n) { names.push(added[j]!); items.push(resources.get(`${kind}|${added[j]}`)!); j++; }
    if (touched.has(n)) continue; // removed, or re-added from `added` in order
    names.push(n);
    items.push(prev.items[i]!);
  }
  for (; j < added.length; j++) { names.push(added[j]!); items.push(resources.get(`${kind}|${added[j]}`)!); }
  return { changedAt: ++changeSeq, names, items };
}

export function buildSnapshot(version: number, lineage: string, complete: boolean, resources: ReadonlyMap<string, Buffer>, prev?: Snapshot, touchedFields?: Iterable<string>): Snapshot {
  const touched = new Map<ServedKind, Set<string>>();
  if (prev && touchedFields) {
    for (const f of touchedFields) {
      const { kind, name } = parseResourceField(f);
      if (!touched.has(kind)) touched.set(kind, new Set());
      touched.get(kind)!.add(name);
    }
  }
  const kinds = {} as Record<ServedKind, KindList>;
  for (const kind of KINDS) {
    const t = touched.get(kind);
    if (prev && touchedFields && prev.complete === complete) {
      kinds[kind] = t ? patchList(prev.kinds[kind], kind, resources, t) : prev.kinds[kind];
    } else {
      kinds[kind] = fullList(kind, resources);
    }
  }
  return { version, lineage, complete, resources, kinds, readAt: performance.now() };
}
