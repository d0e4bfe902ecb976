import type { ServedKind } from '../../schemas/type-urls.ts';
import { parseResourceField } from '../projector/redis-store.ts';

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
  /** Per kind: the version at which that kind's set last changed, and its resources in name order. */
  readonly kinds: Readonly<Record<ServedKind, { readonly changedAt: number; readonly items: readonly Buffer[]; readonly names: readonly string[] }>>;
}

const KINDS: ServedKind[] = ['ServiceEntry', 'WorkloadEntry'];

export function buildSnapshot(version: number, lineage: string, complete: boolean, resources: ReadonlyMap<string, Buffer>, prev?: Snapshot, touchedFields?: Iterable<string>): Snapshot {
  const touchedKinds = new Set<ServedKind>();
  if (prev && touchedFields) for (const f of touchedFields) touchedKinds.add(parseResourceField(f).kind);
  const kinds = {} as Record<ServedKind, Snapshot['kinds'][ServedKind]>;
  for (const kind of KINDS) {
    if (prev && touchedFields && !touchedKinds.has(kind) && prev.complete === complete) {
      kinds[kind] = prev.kinds[kind];
      continue;
    }
    const names: string[] = [];
    for (const field of resources.keys()) if (field.startsWith(`${kind}|`)) names.push(field);
    names.sort();
    kinds[kind] = { changedAt: version, names: names.map((f) => f.slice(kind.length + 1)), items: names.map((f) => resources.get(f)!) };
  }
  return { version, lineage, complete, resources, kinds };
}
