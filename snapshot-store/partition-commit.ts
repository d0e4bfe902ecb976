import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { FencedError } from '../services/shared/errors.ts';
import type { RedisKeys } from './keys.ts';

/**
 * One partition batch's writes, already encoded by the writer (the store knows the layout, not the fold): committed
 * with the partition's next offset in one atomic step, or not at all.
 */
export interface PartitionWrite {
  partition: number;
  /** Offset stored with the state this batch was folded onto ('' when the partition was never committed). */
  expectedOffset: string;
  /** Snapshot lineage the state was loaded under ('' or absent: unchecked): a rebuild switch-over changes it. */
  expectedLineage?: string;
  /** Next offset to consume after this batch. */
  nextOffset: string;
  /** Partition services hash: service key -> encoded fold, and keys to drop. */
  serviceUpserts: ReadonlyMap<string, string>;
  serviceDeletes: readonly string[];
  /** Resources hash: resource field -> encoded MCP Any bytes, and fields to drop. */
  resourceUpserts: ReadonlyMap<string, Buffer>;
  resourceDeletes: readonly string[];
  /** Partition meta fields to set (field, value, field, value …) and to delete; never `offset`. */
  metaSets: readonly string[];
  metaDeletes: readonly string[];
  /** Sources whose first resync marker this batch applied on the partition. */
  resyncedSources: readonly string[];
}

/** A partition as the last committed batch left it, read in one atomic step. */
export interface StoredPartition {
  /** The services hash, flattened (key, value, key, value …). */
  services: string[];
  /** The meta hash without `offset`. */
  meta: Record<string, string>;
  offset: string;
  lineage: string;
}

export interface CommitOutcome {
  version: number;
  upserted: number;
  removed: number;
  resourceCount: number;
  lineage: string;
  /** Bytes of keys and arguments sent with the script: the Redis write cost of the batch. */
  bytes: number;
}

// KEYS: 1 meta(p) 2 services(p) 3 resources 4 version 5 changes 6 complete 7 lineage 8.. resynced(source) for every configured source
// ARGV: 1 expectedOffset 2 nextOffset 3 partition 4 partitionCount 5 streamMaxLen 6 lineageCandidate 7 expectedLineage
//       8 nSvcUp 9 nSvcDel 10 nResUp 11 nResDel 12 nMetaSet 13 nResynced 14 versionFloor 15 nMetaDel, then the lists in
//       that order (svc: key json; svcDel: key; resUp: name bytes; resDel: name; metaSet: field value, i.e.
//       epoch:<source> and tomb:<source>|<key>; resynced: index into KEYS; metaDel: field)
// Fenced (nothing written) when the stored offset is not the one our state was folded onto (another replica moved
// the partition on, or Redis lost data), or when the lineage changed under us (a rebuild switched over).
const COMMIT = `
local cur = redis.call('HGET', KEYS[1], 'offset') or ''
local lineage = redis.call('GET', KEYS[7])
if cur ~= ARGV[1] or (ARGV[7] ~= '' and lineage ~= ARGV[7]) then return {'FENCED', cur, lineage or ''} end
if not lineage then redis.call('SET', KEYS[7], ARGV[6]); lineage = ARGV[6] end
local i = 16
local nSvcUp, nSvcDel, nResUp, nResDel = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local nEpochs, nResynced = tonumber(ARGV[12]), tonumber(ARGV[13])
for _ = 1, nSvcUp do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, nSvcDel do redis.call('HDEL', KEYS[2], ARGV[i]); i = i + 1 end
local up, rm = {}, {}
for _ = 1, nResUp do
  if redis.call('HGET', KEYS[3], ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); up[#up + 1] = ARGV[i]
  end
  i = i + 2
end
for _ = 1, nResDel do
  if redis.call('HDEL', KEYS[3], ARGV[i]) == 1 then rm[#rm + 1] = ARGV[i] end
  i = i + 1
end
for _ = 1, nEpochs do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
local completed = false
for _ = 1, nResynced do redis.call('SADD', KEYS[tonumber(ARGV[i])], ARGV[3]); i = i + 1 end
for _ = 1, tonumber(ARGV[15]) do redis.call('HDEL', KEYS[1], ARGV[i]); i = i + 1 end
if nResynced > 0 and redis.call('EXISTS', KEYS[6]) == 0 then
  local all = true
  for k = 8, #KEYS do
    if redis.call('SCARD', KEYS[k]) < tonumber(ARGV[4]) then all = false end
  end
  if all then redis.call('SET', KEYS[6], '1'); completed = true end
end
redis.call('HSET', KEYS[1], 'offset', ARGV[2])
local count = redis.call('HLEN', KEYS[3])
if #up == 0 and #rm == 0 and not completed then
  return {'OK', redis.call('GET', KEYS[4]) or '0', '0', '0', tostring(count), lineage}
end
local v = redis.call('INCR', KEYS[4])
-- Never below a version this projector already saw committed: a Redis that lost its last second of writes (AOF
-- everysec, kill -9) would otherwise hand out versions gateways and istiods already have, with other content.
if v <= tonumber(ARGV[14]) then v = tonumber(ARGV[14]) + 1; redis.call('SET', KEYS[4], v) end
-- The change record (change-record.ts).
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'v', v, 'up', table.concat(up, '\\n'), 'rm', table.concat(rm, '\\n'), 'complete', completed and '1' or '0', 'p', ARGV[3], 'from', ARGV[1], 'to', ARGV[2])
return {'OK', tostring(v), tostring(#up), tostring(#rm), tostring(count), lineage}
`;

// State, offset and lineage of one partition read in one atomic step: a commit by another replica can never fall
// between them (a torn read would pair old state with a new offset and double or lose effects).
const LOAD = `
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('GET', KEYS[3]) or ''}
`;

type Scripted = {
  meshbridgeCommit(n: number, ...a: (string | Buffer)[]): Promise<string[]>;
  meshbridgeLoadPartition(n: number, ...a: string[]): Promise<[string[], string[], string]>;
};

/** The writer's side of the snapshot store: atomic partition commits and loads. */
export class PartitionStore {
  /** Highest snapshot version this process saw committed: the floor of every later version (any lineage). */
  private highestVersion = 0;

  constructor(
    private readonly redis: Redis,
    readonly keys: RedisKeys,
    private readonly sourceIds: readonly string[],
    private readonly streamMaxLen: number,
  ) {
    redis.defineCommand('meshbridgeCommit', { lua: COMMIT });
    redis.defineCommand('meshbridgeLoadPartition', { lua: LOAD });
  }

  private get scripts(): Scripted {
    return this.redis as unknown as Scripted;
  }

  async load(partition: number): Promise<StoredPartition> {
    const [services, meta, lineage] = await this.scripts.meshbridgeLoadPartition(
      3,
      this.keys.partitionServices(partition),
      this.keys.partitionMeta(partition),
      this.keys.lineage,
    );
    const metaObj: Record<string, string> = {};
    let offset = '';
    for (let i = 0; i < meta.length; i += 2) {
      if (meta[i] === 'offset') offset = meta[i + 1]!;
      else metaObj[meta[i]!] = meta[i + 1]!;
    }
    return { services, meta: metaObj, offset, lineage };
  }

  async commit(c: PartitionWrite, partitionCount: number): Promise<CommitOutcome> {
    const resyncedKeys = this.sourceIds.map((s) => this.keys.resynced(s));
    const keys = [
      this.keys.partitionMeta(c.partition),
      this.keys.partitionServices(c.partition),
      this.keys.resources,
      this.keys.version,
      this.keys.changes,
      this.keys.complete,
      this.keys.lineage,
      ...resyncedKeys,
    ];
    const resynced = c.resyncedSources
      .map((s) => this.sourceIds.indexOf(s))
      .filter((i) => i >= 0)
      .map((i) => String(8 + i));
    // A fresh candidate per commit: whenever Redis lost the lineage key, the first commit afterwards starts a new
    // lineage, so gateways reload instead of diffing against a history Redis no longer has.
    const argv: (string | Buffer)[] = [
      c.expectedOffset,
      c.nextOffset,
      String(c.partition),
      String(partitionCount),
      String(this.streamMaxLen),
      crypto.randomUUID(),
      c.expectedLineage ?? '',
      String(c.serviceUpserts.size),
      String(c.serviceDeletes.length),
      String(c.resourceUpserts.size),
      String(c.resourceDeletes.length),
      String(c.metaSets.length / 2),
      String(resynced.length),
      String(this.highestVersion),
      String(c.metaDeletes.length),
    ];
    for (const [k, v] of c.serviceUpserts) argv.push(k, v);
    argv.push(...c.serviceDeletes);
    for (const [k, v] of c.resourceUpserts) argv.push(k, v);
    argv.push(...c.resourceDeletes, ...c.metaSets, ...resynced, ...c.metaDeletes);
    let bytes = 0;
    for (const a of argv) bytes += typeof a === 'string' ? Buffer.byteLength(a) : a.length;
    for (const k of keys) bytes += k.length;
    const res = await this.scripts.meshbridgeCommit(keys.length, ...keys, ...argv);
    if (res[0] === 'FENCED') {
      const why =
        res[1] !== c.expectedOffset
          ? `stored offset ${res[1] || 'none'}, expected ${c.expectedOffset || 'none'}: another projector owns it now, or Redis lost data`
          : `lineage changed to ${res[2] || 'none'} (a rebuild switched over)`;
      throw new FencedError(`partition ${c.partition} moved on in Redis (${why})`, {
        partition: c.partition,
        stored: res[1],
        expected: c.expectedOffset,
        lineage: res[2],
      });
    }
    const version = Number(res[1]);
    if (version > this.highestVersion) this.highestVersion = version;
    return {
      version,
      upserted: Number(res[2]),
      removed: Number(res[3]),
      resourceCount: Number(res[4]),
      lineage: res[5]!,
      bytes,
    };
  }
}
