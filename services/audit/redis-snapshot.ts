import type { Redis } from 'ioredis';
import type { RedisKeys } from '../shared/keys.ts';
import { parseChangeRecord, type ChangeRecord } from './version-map.ts';

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
  const k = [keys.version, keys.resources, keys.complete, keys.lineage, ...partitions.map((p) => keys.partitionMeta(p))];
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
