/**
 * Redis key layout of a snapshot, the one place keys are built: written by the projector, read by gateways, audit,
 * status and rebuild. `{prefix}` is a hash tag so every key of a snapshot lives in one cluster slot and a Lua script
 * may touch them all atomically (collector leases use the same tag, so one Redis Cluster slot holds everything).
 */
export function redisKeys(prefix: string, namespace = '') {
  const p = `{${prefix}}${namespace}`;
  return {
    /** hash: resource field (resource-field.ts) -> encoded MCP Any bytes */
    resources: `${p}:resources`,
    /** string: global snapshot version (monotonic) */
    version: `${p}:version`,
    /** stream: change records (change-record.ts) */
    changes: `${p}:changes`,
    /** string "1" once every configured source finished its first full resync */
    complete: `${p}:complete`,
    /** string: random id of this snapshot lineage; changes when Redis lost data or a rebuild switched over */
    lineage: `${p}:lineage`,
    /** hash per partition: service key -> folded state JSON */
    partitionServices: (partition: number) => `${p}:p${partition}:services`,
    /** hash per partition: offset, epoch:<source>, tomb:<source>|<key> */
    partitionMeta: (partition: number) => `${p}:p${partition}:meta`,
    /** SCAN pattern and matcher of every partition's services hash (the partition count is not stored). */
    partitionServicesPattern: `${p}:p*:services`,
    isPartitionServices: (key: string) => key.startsWith(`${p}:p`) && /^\d+:services$/.test(key.slice(p.length + 2)),
    /** set per source: partitions whose first resync marker has been applied */
    resynced: (source: string) => `${p}:resynced:${source}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;

/** Staging keys of one rebuild: the live layout under `:rebuild:<id>`, same hash tag, so a script can swap them in. */
export const stagingKeys = (prefix: string, id: string): RedisKeys => redisKeys(prefix, `:rebuild:${id}`);
/** SCAN pattern of every key of one rebuild's staging snapshot. */
export const stagingPattern = (prefix: string, id: string) => `{${prefix}}:rebuild:${id}:*`;

/** A collector source's lease and fencing epoch. */
export const leaseKeys = (prefix: string, sourceId: string) => ({
  lease: `{${prefix}}:collector:lease:${sourceId}`,
  epoch: `{${prefix}}:collector:epoch:${sourceId}`,
});
