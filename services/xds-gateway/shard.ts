/**
 * The config source (shard) that serves a resource: FNV-1a (32 bit) of its "namespace/name", modulo the shard
 * count. Stable across replicas, restarts and versions — every gateway must put a resource in the same shard, or
 * istiod would see it leave one source and arrive in another. istiod keeps each config source's objects apart and,
 * on a push, re-reads only that source's collection: with K shards a change costs istiod about 1/K of the mesh.
 */
export function shardOf(name: string, shards: number): number {
  if (shards <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}
