import type { ServedKind } from '../../schemas/type-urls.ts';
import { parseResourceField, resourceField } from '../../snapshot-store/resource-field.ts';
import { shardOf } from './shard.ts';

/**
 * An immutable, versioned snapshot: the encoded resources at one global version. Resources are kept as the bytes the
 * projector wrote (MCP `Any`), never re-encoded, and listed per kind and shard in name order so every replica that
 * holds the same version sends identical bytes.
 */
export interface Snapshot {
  readonly version: number;
  readonly lineage: string;
  readonly complete: boolean;
  /** Per kind, per shard (shard.ts): its resources in name order, and when that list last changed. */
  readonly kinds: Readonly<Record<ServedKind, readonly KindList[]>>;
  readonly shards: number;
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
   * When this list last changed, as a gateway-local sequence number (not the global version: after Redis lost its
   * data or a rebuild switched lineage, global versions restart and could repeat one already sent).
   */
  readonly changedAt: number;
  /** "namespace/name", sorted (code-unit order, the same on every replica). */
  readonly names: readonly string[];
  readonly items: readonly Buffer[];
  /** Set on the lists of a full load: their items are the load's buffers until first served (load-garbage.ts). */
  readonly fromLoad?: true;
}

/**
 * Points a list's items at byte-identical views: the copies inside the response message just built from them. The
 * list's value is unchanged (same names, same bytes); only which memory holds them, so a served snapshot's bytes are
 * held once, in its messages, instead of also in the buffers they were read from Redis into (docs/gateway.md,
 * "Start-up and memory").
 */
export function shareItemBytes(list: KindList, views: readonly Buffer[]): void {
  if (views.length !== list.items.length) return;
  const items = list.items as Buffer[];
  for (let i = 0; i < views.length; i++) items[i] = views[i]!;
}

/**
 * Largest list re-pointed into every message rebuilt from it. A view costs ~0.5 µs per item: nothing next to a push of
 * a shard of the usual size (40–50 services at the recommended gateway.shards), but ~5 ms more CPU per push of one
 * 10,000-service list (doubling its encode; bench:gateway-vs-reference).
 */
const SHARE_MAX_ITEMS = 2048;

/** Whether a message built from this list should become where the list holds its bytes (shareItemBytes). */
export function sharesItemBytes(list: KindList): boolean {
  // Longer lists only after a full load: there it halves the memory held at idle, once.
  return list.fromLoad === true || list.items.length <= SHARE_MAX_ITEMS;
}

const KINDS: ServedKind[] = ['ServiceEntry'];
let changeSeq = 0;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function make(
  version: number,
  lineage: string,
  complete: boolean,
  kinds: Record<ServedKind, KindList[]>,
  shards: number,
  readAt: number,
): Snapshot {
  let map: Map<string, Buffer> | undefined;
  let size = 0;
  for (const k of KINDS) for (const l of kinds[k]) size += l.names.length;
  return {
    version,
    lineage,
    complete,
    kinds,
    shards,
    size,
    readAt,
    get resources() {
      if (!map) {
        map = new Map();
        for (const k of KINDS) {
          for (const l of kinds[k]) for (const [i, n] of l.names.entries()) map.set(resourceField(k, n), l.items[i]!);
        }
      }
      return map;
    },
  };
}

/** A snapshot from a full read of Redis: every kind and shard listed from scratch. */
export function fullSnapshot(
  version: number,
  lineage: string,
  complete: boolean,
  resources: ReadonlyMap<string, Buffer>,
  shards = 1,
  readAt = performance.now(),
): Snapshot {
  const kinds = {} as Record<ServedKind, KindList[]>;
  for (const kind of KINDS) {
    const names: string[][] = Array.from({ length: shards }, () => []);
    const items: Buffer[][] = Array.from({ length: shards }, () => []);
    const fields: string[] = [];
    for (const field of resources.keys()) if (field.startsWith(`${kind}|`)) fields.push(field);
    fields.sort(cmp);
    for (const f of fields) {
      const name = f.slice(kind.length + 1);
      const s = shardOf(name, shards);
      names[s]!.push(name);
      items[s]!.push(resources.get(f)!);
    }
    kinds[kind] = names.map((n, s) => ({ changedAt: ++changeSeq, names: n, items: items[s]!, fromLoad: true }));
  }
  return make(version, lineage, complete, kinds, shards, readAt);
}

/**
 * The next snapshot: `prev` with `changes` (resource field -> new bytes, or null when removed) applied, each touched
 * shard's sorted list patched in one linear merge — no copy of a resource map, no re-sort, and untouched shards keep
 * their list (and so are not pushed). Called once per push with every change read since the previous one.
 */
export function patchSnapshot(
  prev: Snapshot,
  version: number,
  complete: boolean,
  changes: ReadonlyMap<string, Buffer | null>,
  readAt: number,
): Snapshot {
  const touched = new Map<string, Map<string, Buffer | null>>(); // `${kind}|${shard}` -> name -> bytes
  for (const [field, bytes] of changes) {
    const { kind, name } = parseResourceField(field);
    if (!KINDS.includes(kind)) continue;
    const key = `${kind}|${shardOf(name, prev.shards)}`;
    if (!touched.has(key)) touched.set(key, new Map());
    touched.get(key)!.set(name, bytes);
  }
  const kinds = {} as Record<ServedKind, KindList[]>;
  for (const kind of KINDS) {
    kinds[kind] = prev.kinds[kind].map((list, s) => {
      const t = touched.get(`${kind}|${s}`);
      if (t) return patchList(list, t);
      // A completeness change re-offers every list (a stream withholding a kind waits for a new changedAt).
      return prev.complete === complete ? list : { ...list, changedAt: ++changeSeq };
    });
  }
  return make(version, prev.lineage, complete, kinds, prev.shards, readAt);
}

function patchList(prev: KindList, touched: ReadonlyMap<string, Buffer | null>): KindList {
  const added = [...touched].filter(([, b]) => b !== null).sort(([a], [b]) => cmp(a, b)) as [string, Buffer][];
  const names: string[] = [];
  const items: Buffer[] = [];
  let j = 0;
  for (let i = 0; i < prev.names.length; i++) {
    const n = prev.names[i]!;
    while (j < added.length && added[j]![0] < n) {
      names.push(added[j]![0]);
      items.push(added[j]![1]);
      j++;
    }
    if (touched.has(n)) continue; // removed, or re-added from `added` in order
    names.push(n);
    items.push(prev.items[i]!);
  }
  for (; j < added.length; j++) {
    names.push(added[j]![0]);
    items.push(added[j]![1]);
  }
  return { changedAt: ++changeSeq, names, items };
}
