import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.ts';

/**
 * A rebuild's switch-over: the staged snapshot (built under stagingKeys) replaces the live one in one script, so
 * gateways see either the old snapshot or the complete new one. It gets a new lineage (gateways reload in full) and
 * the live version advances (it never goes back). Refused while the staging is behind the live projectors on any
 * partition, or incomplete where the live snapshot is complete (unless allowed).
 */
// KEYS: 1 live version 2 live changes 3 live lineage 4 staging version 5 staging changes 6 staging lineage,
//       then pairs (live, staging): resources, complete, resynced per source, then per partition services and meta
//       (meta pairs last, ARGV[1] of them).
// ARGV: 1 partitionCount 2 new lineage 3 stream max length 4 allowIncomplete ('1' or '0')
const SWITCH = `
local n = tonumber(ARGV[1])
local firstMeta = #KEYS - 2 * n + 1
local behind = {}
for k = firstMeta, #KEYS, 2 do
  local live = tonumber(redis.call('HGET', KEYS[k], 'offset') or '0') or 0
  local staged = tonumber(redis.call('HGET', KEYS[k + 1], 'offset') or '0') or 0
  if staged < live then behind[#behind + 1] = tostring((k - firstMeta) / 2) .. ':' .. tostring(live) end
end
if #behind > 0 then return {'BEHIND', unpack(behind)} end
local liveComplete = redis.call('EXISTS', KEYS[9]) == 1
local stagedComplete = redis.call('EXISTS', KEYS[10]) == 1
if liveComplete and not stagedComplete and ARGV[4] ~= '1' then return {'INCOMPLETE'} end
for k = 7, #KEYS, 2 do
  redis.call('UNLINK', KEYS[k])
  if redis.call('EXISTS', KEYS[k + 1]) == 1 then redis.call('RENAME', KEYS[k + 1], KEYS[k]) end
end
redis.call('SET', KEYS[3], ARGV[2])
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'v', v, 'up', '', 'rm', '', 'complete', stagedComplete and '1' or '0', 'rebuilt', ARGV[2])
redis.call('UNLINK', KEYS[4], KEYS[5], KEYS[6])
return {'OK', tostring(v), tostring(redis.call('HLEN', KEYS[7]))}
`;

export type SwitchOutcome =
  | { status: 'OK'; version: number; resources: number; lineage: string }
  | { status: 'BEHIND'; behind: { partition: number; liveOffset: bigint }[] }
  | { status: 'INCOMPLETE' };

/** Swaps the staged snapshot in, atomically, if it is at least as far along as the live one on every partition. */
export async function switchOver(
  redis: Redis,
  live: RedisKeys,
  staged: RedisKeys,
  sourceIds: string[],
  partitions: number,
  streamMaxLen: number,
  allowIncomplete = false,
): Promise<SwitchOutcome> {
  const pairs: string[] = [live.resources, staged.resources, live.complete, staged.complete];
  for (const s of sourceIds) pairs.push(live.resynced(s), staged.resynced(s));
  for (let p = 0; p < partitions; p++) pairs.push(live.partitionServices(p), staged.partitionServices(p));
  for (let p = 0; p < partitions; p++) pairs.push(live.partitionMeta(p), staged.partitionMeta(p));
  const keys = [live.version, live.changes, live.lineage, staged.version, staged.changes, staged.lineage, ...pairs];
  const lineage = crypto.randomUUID();
  const res = (await redis.eval(
    SWITCH,
    keys.length,
    ...keys,
    String(partitions),
    lineage,
    String(streamMaxLen),
    allowIncomplete ? '1' : '0',
  )) as string[];
  if (res[0] === 'BEHIND') {
    return {
      status: 'BEHIND',
      behind: res.slice(1).map((x) => {
        const [p, o] = x.split(':');
        return { partition: Number(p), liveOffset: BigInt(o!) };
      }),
    };
  }
  if (res[0] === 'INCOMPLETE') return { status: 'INCOMPLETE' };
  return { status: 'OK', version: Number(res[1]), resources: Number(res[2]), lineage };
}
