import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.ts';
import { parseChangeRecord, type ChangeRecord } from './change-record.ts';

export interface LiveSnapshot {
  version: number;
  lineage: string;
  complete: boolean;
  /** Resource field -> MCP Any bytes. */
  resources: Map<string, Buffer>;
  /** Offset stored per partition ("next offset to consume"); absent for a partition never committed. */
  offsets: Map<number, bigint>;
}

// Version, lineage, completeness, every partition's stored offset and every resource, in one atomic step: the
// projector commits state and offsets together, so a torn read could pair resources with the wrong offsets.
// KEYS: 1 version 2 resources 3 complete 4 lineage 5.. partition meta hashes
const READ = `
local out = {redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[4]) or '', redis.call('GET', KEYS[3]) or '0', tostring(#KEYS - 4)}
for k = 5, #KEYS do out[#out + 1] = redis.call('HGET', KEYS[k], 'offset') or '' end
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all do out[#out + 1] = all[i] end
return out
`;

type Scripted = { meshbridgeAuditReadBuffer(n: number, ...keys: string[]): Promise<Buffer[]> };

export async function readLiveSnapshot(redis: Redis, keys: RedisKeys, partitions: number[]): Promise<LiveSnapshot> {
  redis.defineCommand('meshbridgeAuditRead', { lua: READ });
  const k = [
    keys.version,
    keys.resources,
    keys.complete,
    keys.lineage,
    ...partitions.map((p) => keys.partitionMeta(p)),
  ];
  const raw = await (redis as unknown as Scripted).meshbridgeAuditReadBuffer(k.length, ...k);
  const text = (i: number) => raw[i]!.toString();
  const n = Number(text(3));
  const offsets = new Map<number, bigint>();
  for (let i = 0; i < n; i++) {
    const o = text(4 + i);
    if (o !== '') offsets.set(partitions[i]!, BigInt(o));
  }
  const resources = new Map<string, Buffer>();
  for (let i = 4 + n; i + 1 < raw.length; i += 2) resources.set(raw[i]!.toString(), raw[i + 1]!);
  return { version: Number(text(0)), lineage: text(1), complete: text(2) === '1', resources, offsets };
}

/** The whole (bounded) change stream, oldest first. */
export async function readChangeRecords(redis: Redis, keys: RedisKeys): Promise<ChangeRecord[]> {
  const entries = await redis.xrange(keys.changes, '-', '+');
  return entries.map(([id, fields]) => parseChangeRecord(id, fields));
}

/** The served resources and every partition's stored fold (service key -> encoded fold), read in one MULTI. */
export interface LiveFolds {
  version: number;
  lineage: string;
  complete: boolean;
  resources: Map<string, Buffer>;
  folds: Map<string, string>;
}

/**
 * The live snapshot with every partition's fold, in one atomic read (MULTI): the projector commits a partition's fold
 * and the resources built from it together. Partitions are found by SCAN (the partition count is not stored).
 */
export async function readLiveFolds(redis: Redis, keys: RedisKeys): Promise<LiveFolds> {
  const foldKeys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', keys.partitionServicesPattern, 'COUNT', 1000);
    cursor = next;
    foldKeys.push(...found.filter((k) => keys.isPartitionServices(k)));
  } while (cursor !== '0');
  const m = redis.multi().get(keys.version).get(keys.lineage).get(keys.complete).hgetallBuffer(keys.resources);
  for (const k of foldKeys) m.hgetall(k);
  const res = (await m.exec())!.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
  const folds = new Map<string, string>();
  for (const hash of res.slice(4) as Record<string, string>[])
    for (const [key, json] of Object.entries(hash)) folds.set(key, json);
  return {
    version: Number(res[0] ?? 0),
    lineage: (res[1] as string | null) ?? '',
    complete: res[2] === '1',
    resources: new Map(Object.entries(res[3] as Record<string, Buffer>)),
    folds,
  };
}
