/**
 * Redis key layout, shared by projector (writer) and gateways (readers). `{prefix}` is a hash tag so every key of a
 * snapshot lives in one cluster slot and a Lua script may touch them all atomically.
 */
export function redisKeys(prefix: string, namespace = '') {
  const p = `{${prefix}}${namespace}`;
  return {
    /** hash: resource name -> encoded MCP Any bytes */
    resources: `${p}:resources`,
    /** string: global snapshot version (monotonic) */
    version: `${p}:version`,
    /** stream: change records {v, up, rm} */
    changes: `${p}:changes`,
    /** string "1" once every configured source finished its first full resync */
    complete: `${p}:complete`,
    /** string: random id of this snapshot lineage; changes when Redis lost data or a rebuild switched over */
    lineage: `${p}:lineage`,
    /** hash per partition: service key -> folded state JSON */
    partitionServices: (partition: number) => `${p}:p${partition}:services`,
    /** hash per partition: offset, epoch:<source>, ... */
    partitionMeta: (partition: number) => `${p}:p${partition}:meta`,
    /** set per source: partitions whose first resync marker has been applied */
    resynced: (source: string) => `${p}:resynced:${source}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
