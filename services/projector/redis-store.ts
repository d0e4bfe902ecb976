import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { FencedError } from '../shared/errors.ts';
import type { RedisKeys } from '../shared/keys.ts';
import type { BatchEffects } from './fold-batch.ts';
import { decodePartitionState, encodeMetaChanges, encodeServiceFold } from './fold-codec.ts';
import type { PartitionState } from './fold-state.ts';

/** One partition batch's effects (as the fold computed them), committed with the offsets in one atomic step. */
export interface BatchCommit extends Pick<BatchEffects, 'serviceUpserts' | 'serviceDeletes' | 'resourceUpserts' | 'resourceDeletes' | 'epochs' | 'resyncedSources'>, Partial<Pick<BatchEffects, 'tombstones'>> {
  partition: number;
  /** Offset stored with the state this batch was folded onto ('' when the partition was never committed). */
  expectedOffset: string;
  /** Snapshot lineage the state was loaded under ('' or absent: unchecked): a rebuild switch-over changes it. */
  expectedLineage?: string;
  /** Next offset to consume after this batch. */
  nextOffset: string;
}

export interface LoadedPartition { state: PartitionState; offset: string; lineage: string }

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
-- p/from/to: the partition and offset range [from, to) this version folded, so an audit replay cut at any offsets
-- can name the live version that held exactly that state (gateways read only v/up/rm/complete).
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'v', v, 'up', table.concat(up, '\\n'), 'rm', table.concat(rm, '\\n'), 'complete', completed and '1' or '0', 'p', ARGV[3], 'from', ARGV[1], 'to', ARGV[2])
return {'OK', tostring(v), tostring(#up), tostring(#rm), tostring(count), lineage}
`;

// State, offset and lineage of one partition read in one atomic step: a commit by another replica can never fall
// between them (a torn read would pair old state with a new offset and double or lose effects).
const LOAD = `
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('GET', KEYS[3]) or ''}
`;

export interface CommitOutcome {
  version: number; upserted: number; removed: number; resourceCount: number; lineage: string;
  /** Bytes of keys and arguments sent with the script: the Redis write cost of the batch. */
  bytes: number;
}

type Scripted = {
  meshbridgeCommit(n: number, ...a: (string | Buffer)[]): Promise<string[]>;
  meshbridgeLoadPartition(n: number, ...a: string[]): Promise<[string[], string[], string]>;
};

export class ProjectorStore {
  constructor(
    private readonly redis: Redis,
    readonly keys: RedisKeys,
    private readonly sourceIds: string[],
    private readonly streamMaxLen: number,
    /** Unused: lineage candidates are now drawn per commit. Kept so older callers compile. */
    _lineageCandidate?: string,
  ) {
    redis.defineCommand('meshbridgeCommit', { lua: COMMIT });
    redis.defineCommand('meshbridgeLoadPartition', { lua: LOAD });
  }

  private get scripts(): Scripted { return this.redis as unknown as Scripted; }

  /** The folded state, stored offset and lineage of a partition, as the last committed batch left them. */
  async loadPartition(partition: number): Promise<LoadedPartition> {
    const [svcs, meta, lineage] = await this.scripts.meshbridgeLoadPartition(3,
      this.keys.partitionServices(partition), this.keys.partitionMeta(partition), this.keys.lineage);
    const metaObj: Record<string, string> = {};
    for (let i = 0; i < meta.length; i += 2) metaObj[meta[i]!] = meta[i + 1]!;
    return { state: decodePartitionState(svcs, metaObj), offset: metaObj.offset ?? '', lineage };
  }

  /** Highest snapshot version this process saw committed: the floor of every later version (any lineage). */
  private highestVersion = 0;

  async commit(c: BatchCommit, partitionCount: number): Promise<CommitOutcome> {
    const resyncedKeys = this.sourceIds.map((s) => this.keys.resynced(s));
    const keys = [
      this.keys.partitionMeta(c.partition), this.keys.partitionServices(c.partition), this.keys.resources, this.keys.version,
      this.keys.changes, this.keys.complete, this.keys.lineage, ...resyncedKeys,
    ];
    // A fresh candidate per commit: whenever Redis lost the lineage key, the first commit afterwards starts a new
    // lineage, so gateways reload instead of diffing against a history Redis no longer has.
    const argv: (string | Buffer)[] = [
      c.expectedOffset, c.nextOffset, String(c.partition), String(partitionCount), String(this.streamMaxLen),
      crypto.randomUUID(), c.expectedLineage ?? '',
      String(c.serviceUpserts.size), String(c.serviceDeletes.length), String(c.resourceUpserts.size), String(c.resourceDeletes.length),
    ];
    const metaSets = encodeMetaChanges(c.epochs, c.tombstones ?? new Map());
    const resynced = c.resyncedSources.map((s) => this.sourceIds.indexOf(s)).filter((i) => i >= 0).map((i) => String(8 + i));
    argv.push(String(metaSets.sets.length / 2), String(resynced.length), String(this.highestVersion), String(metaSets.deletes.length));
    for (const [k, v] of c.serviceUpserts) argv.push(k, encodeServiceFold(v));
    argv.push(...c.serviceDeletes);
    for (const [k, v] of c.resourceUpserts) argv.push(k, v);
    argv.push(...c.resourceDeletes);
    argv.push(...metaSets.sets);
    argv.push(...resynced);
    argv.push(...metaSets.deletes);
    let bytes = 0;
    for (const a of argv) bytes += typeof a === 'string' ? Buffer.byteLength(a) : a.length;
    for (const k of keys) bytes += k.length;
    const res = await this.scripts.meshbridgeCommit(keys.length, ...keys, ...argv);
    if (res[0] === 'FENCED') {
      const why = res[1] !== c.expectedOffset
        ? `stored offset ${res[1] || 'none'}, expected ${c.expectedOffset || 'none'}: another projector owns it now, or Redis lost data`
        : `lineage changed to ${res[2] || 'none'} (a rebuild switched over)`;
      throw new FencedError(`partition ${c.partition} moved on in Redis (${why})`, { partition: c.partition, stored: res[1], expected: c.expectedOffset, lineage: res[2] });
    }
    const version = Number(res[1]);
    if (version > this.highestVersion) this.highestVersion = version;
    return { version, upserted: Number(res[2]), removed: Number(res[3]), resourceCount: Number(res[4]), lineage: res[5]!, bytes };
  }
}

/** Resource hash field: kind and name, so ServiceEntries and WorkloadEntries of one name never collide. */
export const resourceField = (kind: 'ServiceEntry' | 'WorkloadEntry', name: string) => `${kind}|${name}`;
export const parseResourceField = (field: string) => {
  const bar = field.indexOf('|');
  return { kind: field.slice(0, bar) as 'ServiceEntry' | 'WorkloadEntry', name: field.slice(bar + 1) };
};
