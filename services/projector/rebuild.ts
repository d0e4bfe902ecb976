import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../shared/config.ts';
import { createKafka, createRedis } from '../shared/clients.ts';
import { redisKeys, type RedisKeys } from '../shared/keys.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { MeshbridgeError } from '../shared/errors.ts';
import { projectorMetrics } from './metrics.ts';
import { Projector } from './projector.ts';

/**
 * `meshbridge projector --rebuild`: recompute the snapshot from the topic alone, then switch over atomically.
 *
 * The rebuild runs the projector's own code (same fold, same commit script) into staging keys under the same hash
 * tag as the live snapshot, so one Lua script can swap them in: gateways read snapshots atomically (one script), so
 * they see either the old snapshot or the complete new one, never a mix. The switch gives the snapshot a new lineage
 * — gateways reload it in full — and advances the live version (it never goes back). Live projectors may keep
 * running during the rebuild: the switch only happens once the rebuild has consumed at least as far as they have on
 * every partition, and their next commit is fenced by the lineage change, so they reload the rebuilt state and go on
 * from its offsets.
 */
export function stagingKeys(prefix: string, id: string): RedisKeys {
  // Same layout and hash tag as the live keys, so one Lua script can swap them atomically.
  return redisKeys(prefix, `:rebuild:${id}`);
}

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
export async function switchOver(redis: Redis, live: RedisKeys, staged: RedisKeys, sourceIds: string[], partitions: number, streamMaxLen: number, allowIncomplete = false): Promise<SwitchOutcome> {
  const pairs: string[] = [live.resources, staged.resources, live.complete, staged.complete];
  for (const s of sourceIds) pairs.push(live.resynced(s), staged.resynced(s));
  for (let p = 0; p < partitions; p++) pairs.push(live.partitionServices(p), staged.partitionServices(p));
  for (let p = 0; p < partitions; p++) pairs.push(live.partitionMeta(p), staged.partitionMeta(p));
  const keys = [live.version, live.changes, live.lineage, staged.version, staged.changes, staged.lineage, ...pairs];
  const lineage = crypto.randomUUID();
  const res = (await redis.eval(SWITCH, keys.length, ...keys, String(partitions), lineage, String(streamMaxLen), allowIncomplete ? '1' : '0')) as string[];
  if (res[0] === 'BEHIND') {
    return { status: 'BEHIND', behind: res.slice(1).map((x) => { const [p, o] = x.split(':'); return { partition: Number(p), liveOffset: BigInt(o!) }; }) };
  }
  if (res[0] === 'INCOMPLETE') return { status: 'INCOMPLETE' };
  return { status: 'OK', version: Number(res[1]), resources: Number(res[2]), lineage };
}

export class RebuildError extends MeshbridgeError {
  constructor(message: string) {
    super(message, { retriable: false, code: 'REBUILD_FAILED' });
    this.name = 'RebuildError';
  }
}

export interface RebuildResult { version: number; resources: number; lineage: string; events: bigint; seconds: number }

/** Runs a rebuild to its switch-over. Staging keys and the rebuild's consumer group are removed whatever happens. */
export async function rebuild(cfg: Config, kafka: Kafka, redis: Redis, log: Logger, opts: { allowIncomplete?: boolean; pollMs?: number } = {}): Promise<RebuildResult> {
  const id = crypto.randomBytes(6).toString('hex');
  const live = redisKeys(cfg.redis.prefix);
  const staged = stagingKeys(cfg.redis.prefix, id);
  const groupId = `${cfg.projector.groupId}.rebuild.${id}`;
  const sourceIds = cfg.sources.map((s) => s.id);
  const metrics = projectorMetrics(createMetricsRegistry('projector-rebuild'));
  const projector = new Projector(cfg, kafka, redis, log, metrics, { keys: staged, groupId, deadLetter: false });
  const t0 = performance.now();
  log.info({ id, staging: `{${cfg.redis.prefix}}:rebuild:${id}:*`, group: groupId }, 'rebuild: recomputing the snapshot from the topic');
  try {
    await projector.start();
    const admin = kafka.admin();
    await admin.connect();
    let target: bigint[];
    try {
      target = (await admin.fetchTopicOffsets(cfg.kafka.topic)).sort((a, b) => a.partition - b.partition).map((o) => BigInt(o.high));
    } finally {
      await admin.disconnect();
    }
    const partitions = target.length;
    for (let attempt = 1; ; attempt++) {
      await waitStaged(redis, staged, target, projector, log, opts.pollMs ?? 200);
      const out = await switchOver(redis, live, staged, sourceIds, partitions, cfg.projector.changeStreamLength, opts.allowIncomplete);
      if (out.status === 'OK') {
        const events = target.reduce((a, b) => a + b, 0n);
        const seconds = (performance.now() - t0) / 1000;
        log.info({ version: out.version, resources: out.resources, lineage: out.lineage, seconds: Math.round(seconds * 10) / 10, attempts: attempt }, 'rebuild: switched over atomically');
        return { ...out, events, seconds };
      }
      if (out.status === 'INCOMPLETE') {
        throw new RebuildError('rebuild: the topic does not hold a completed first resync of every configured source, but the live snapshot is complete; refusing to switch to an incomplete snapshot (gateways would keep serving the old one)');
      }
      // Live projectors moved on while we caught up: chase their offsets, then try again.
      for (const b of out.behind) if (b.liveOffset > target[b.partition]!) target[b.partition] = b.liveOffset;
      log.info({ attempt, behind: out.behind.map((b) => `${b.partition}@${b.liveOffset}`) }, 'rebuild: live projectors are ahead; catching up before switching');
    }
  } finally {
    await projector.stop().catch(() => undefined);
    await cleanup(kafka, redis, cfg.redis.prefix, id, groupId, log);
  }
}

async function waitStaged(redis: Redis, staged: RedisKeys, target: bigint[], projector: Projector, log: Logger, pollMs: number): Promise<void> {
  let lastLog = 0;
  for (;;) {
    if (projector.failed) throw new RebuildError(`rebuild: consumer failed: ${projector.failed.message}`);
    const offsets = await Promise.all(target.map(async (_, p) => BigInt((await redis.hget(staged.partitionMeta(p), 'offset')) || '0')));
    if (offsets.every((o, p) => o >= target[p]!)) return;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      const done = offsets.reduce((a, b) => a + b, 0n);
      log.info({ consumed: String(done), target: String(target.reduce((a, b) => a + b, 0n)) }, 'rebuild: progress');
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function cleanup(kafka: Kafka, redis: Redis, prefix: string, id: string, groupId: string, log: Logger): Promise<void> {
  // After a switch only the staging keys a late fenced batch may have touched are left; after a failure, all of them.
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{${prefix}}:rebuild:${id}:*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.unlink(...found);
  } while (cursor !== '0');
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch (e) {
    log.warn({ group: groupId, err: (e as Error).message }, 'rebuild: could not delete the rebuild consumer group; it expires on its own');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** CLI entry: `meshbridge projector --rebuild`. */
export async function runRebuild(cfg: Config): Promise<void> {
  const log = createLogger('projector-rebuild');
  const kafka = createKafka(cfg, log, 'projector-rebuild');
  const redis = createRedis(cfg, log, 'projector-rebuild');
  await redis.connect();
  try {
    const r = await rebuild(cfg, kafka, redis, log);
    process.stdout.write(`rebuilt ${r.resources} resources from ${r.events} events in ${r.seconds.toFixed(1)} s; snapshot version ${r.version}, lineage ${r.lineage}\n`);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
