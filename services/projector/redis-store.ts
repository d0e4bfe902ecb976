import type { Redis } from 'ioredis';
import { FencedError } from '../shared/errors.ts';
import type { RedisKeys } from '../shared/keys.ts';
import { emptyPartitionState, type PartitionState, type ServiceFold } from './fold-state.ts';

/** One partition batch's effects, committed to Redis in one atomic step together with the consumed offset. */
export interface BatchCommit {
  partition: number;
  /** Offset stored with the state this batch was folded onto ('' when the partition was never committed). */
  expectedOffset: string;
  /** Next offset to consume after this batch. */
  nextOffset: string;
  serviceUpserts: Map<string, ServiceFold>;
  serviceDeletes: string[];
  resourceUpserts: Map<string, Buffer>;
  resourceDeletes: string[];
  epochs: Map<string, number>;
  resyncedSources: string[];
}

export interface LoadedPartition { state: PartitionState; offset: string }

// KEYS: 1 meta(p) 2 services(p) 3 resources 4 version 5 changes 6 complete 7 lineage 8.. resynced(source) for every configured source
// ARGV: 1 expectedOffset 2 nextOffset 3 partition 4 partitionCount 5 streamMaxLen 6 lineageCandidate
//       7 nSvcUp 8 nSvcDel 9 nResUp 10 nResDel 11 nEpochs 12 nResynced, then the lists in that order
//       (svc: key json; svcDel: key; resUp: name bytes; resDel: name; epochs: source epoch; resynced: index into KEYS)
const COMMIT = `
local cur = redis.call('HGET', KEYS[1], 'offset') or ''
if cur ~= ARGV[1] then return {'FENCED', cur} end
redis.call('SET', KEYS[7], ARGV[6], 'NX')
local i = 13
local nSvcUp, nSvcDel, nResUp, nResDel = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local nEpochs, nResynced = tonumber(ARGV[11]), tonumber(ARGV[12])
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
for _ = 1, nEpochs do redis.call('HSET', KEYS[1], 'epoch:' .. ARGV[i], ARGV[i + 1]); i = i + 2 end
local completed = false
for _ = 1, nResynced do redis.call('SADD', KEYS[tonumber(ARGV[i])], ARGV[3]); i = i + 1 end
if nResynced > 0 and redis.call('EXISTS', KEYS[6]) == 0 then
  local all = true
  for k = 8, #KEYS do
    if redis.call('SCARD', KEYS[k]) < tonumber(ARGV[4]) then all = false end
  end
  if all then redis.call('SET', KEYS[6], '1'); completed = true end
end
redis.call('HSET', KEYS[1], 'offset', ARGV[2])
if #up == 0 and #rm == 0 and not completed then
  return {'OK', redis.call('GET', KEYS[4]) or '0', '0', '0'}
end
local v = redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'v', v, 'up', table.concat(up, '\\n'), 'rm', table.concat(rm, '\\n'), 'complete', completed and '1' or '0')
return {'OK', tostring(v), tostring(#up), tostring(#rm)}
`;

export interface CommitOutcome { version: number; upserted: number; removed: number }

export class ProjectorStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly sourceIds: string[],
    private readonly streamMaxLen: number,
    private readonly lineageCandidate: string,
  ) {
    redis.defineCommand('meshbridgeCommit', { lua: COMMIT });
  }

  /** The folded state and stored offset of a partition, as the last committed batch left them. */
  async loadPartition(partition: number): Promise<LoadedPartition> {
    const [svcs, meta] = await Promise.all([
      this.redis.hgetall(this.keys.partitionServices(partition)),
      this.redis.hgetall(this.keys.partitionMeta(partition)),
    ]);
    const state = emptyPartitionState();
    for (const [key, json] of Object.entries(svcs)) state.services.set(key, JSON.parse(json) as ServiceFold);
    for (const [field, value] of Object.entries(meta)) {
      if (field.startsWith('epoch:')) state.epochs.set(field.slice(6), Number(value));
    }
    return { state, offset: meta.offset ?? '' };
  }

  async commit(c: BatchCommit, partitionCount: number): Promise<CommitOutcome> {
    const resyncedKeys = this.sourceIds.map((s) => this.keys.resynced(s));
    const keys = [
      this.keys.partitionMeta(c.partition), this.keys.partitionServices(c.partition), this.keys.resources, this.keys.version,
      this.keys.changes, this.keys.complete, this.keys.lineage, ...resyncedKeys,
    ];
    const argv: (string | Buffer)[] = [
      c.expectedOffset, c.nextOffset, String(c.partition), String(partitionCount), String(this.streamMaxLen), this.lineageCandidate,
      String(c.serviceUpserts.size), String(c.serviceDeletes.length), String(c.resourceUpserts.size), String(c.resourceDeletes.length),
      String(c.epochs.size),
    ];
    const resynced = c.resyncedSources.map((s) => this.sourceIds.indexOf(s)).filter((i) => i >= 0).map((i) => String(8 + i));
    argv.push(String(resynced.length));
    for (const [k, v] of c.serviceUpserts) argv.push(k, JSON.stringify(v));
    argv.push(...c.serviceDeletes);
    for (const [k, v] of c.resourceUpserts) argv.push(k, v);
    argv.push(...c.resourceDeletes);
    for (const [s, e] of c.epochs) argv.push(s, String(e));
    argv.push(...resynced);
    const res = (await (this.redis as unknown as { meshbridgeCommit(n: number, ...a: (string | Buffer)[]): Promise<string[]> })
      .meshbridgeCommit(keys.length, ...keys, ...argv));
    if (res[0] === 'FENCED') {
      throw new FencedError(`partition ${c.partition} moved on in Redis (stored offset ${res[1]}, expected ${c.expectedOffset || 'none'}): another projector owns it now`, { partition: c.partition, stored: res[1], expected: c.expectedOffset });
    }
    return { version: Number(res[1]), upserted: Number(res[2]), removed: Number(res[3]) };
  }
}

/** Resource hash field: kind and name, so ServiceEntries and WorkloadEntries of one name never collide. */
export const resourceField = (kind: 'ServiceEntry' | 'WorkloadEntry', name: string) => `${kind}|${name}`;
export const parseResourceField = (field: string) => {
  const bar = field.indexOf('|');
  return { kind: field.slice(0, bar) as 'ServiceEntry' | 'WorkloadEntry', name: field.slice(bar + 1) };
};
