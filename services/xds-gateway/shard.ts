import { hostEntryName } from '../../schemas/port-entry-name.ts';

/**
 * The config source (shard) that serves a resource: FNV-1a (32 bit) of its host's "namespace/name" (a per-port
 * ServiceEntry goes with its host's main one, so istiod gets a host's entries in one push), modulo the shard
 * count. Stable across replicas, restarts and versions — every gateway must put a resource in the same shard, or
 * istiod would see it leave one source and arrive in another. istiod keeps each config source's objects apart and,
 * on a push, re-reads only that source's collection: with K shards a change costs istiod about 1/K of the mesh.
 */
export function shardOf(name: string, shards: number): number {
  if (shards <= 1) return 0;
  const key = hostEntryName(name);
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}
