import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config } from '../../services/shared/config.ts';
import { createKafka } from '../../services/shared/kafka-client.ts';
import { createRedis } from '../../services/shared/redis-client.ts';
import { redisKeys, stagingKeys, stagingPattern, type RedisKeys } from '../../snapshot-store/keys.ts';
import { switchOver } from '../../snapshot-store/rebuild-switch.ts';
import { createLogger, type Logger } from '../../services/shared/log.ts';
import { createMetricsRegistry } from '../../services/shared/metrics.ts';
import { MeshbridgeError } from '../../services/shared/errors.ts';
import { projectorMetrics } from './metrics.ts';
import { Projector } from './projector.ts';

export class RebuildError extends MeshbridgeError {
  constructor(message: string) {
    super(message, { retriable: false, code: 'REBUILD_FAILED' });
    this.name = 'RebuildError';
  }
}

export interface RebuildResult {
  version: number;
  resources: number;
  lineage: string;
  events: bigint;
  seconds: number;
}

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
 *
 * Runs a rebuild to its switch-over. Staging keys and the rebuild's consumer group are removed whatever happens.
 */
export async function rebuild(
  cfg: Config,
  kafka: Kafka,
  redis: Redis,
  log: Logger,
  opts: { allowIncomplete?: boolean; pollMs?: number } = {},
): Promise<RebuildResult> {
  const id = crypto.randomBytes(6).toString('hex');
  const live = redisKeys(cfg.redis.prefix);
  const staged = stagingKeys(cfg.redis.prefix, id);
  const groupId = `${cfg.projector.groupId}.rebuild.${id}`;
  const sourceIds = cfg.sources.map((s) => s.id);
  const metrics = projectorMetrics(createMetricsRegistry('projector-rebuild'));
  const projector = new Projector(cfg, kafka, redis, log, metrics, { keys: staged, groupId, deadLetter: false });
  const t0 = performance.now();
  log.info(
    { id, staging: stagingPattern(cfg.redis.prefix, id), group: groupId },
    'rebuild: recomputing the snapshot from the topic',
  );
  try {
    await projector.start();
    const admin = kafka.admin();
    await admin.connect();
    let target: bigint[];
    try {
      target = (await admin.fetchTopicOffsets(cfg.kafka.topic))
        .sort((a, b) => a.partition - b.partition)
        .map((o) => BigInt(o.high));
    } finally {
      await admin.disconnect();
    }
    const partitions = target.length;
    for (let attempt = 1; ; attempt++) {
      await waitStaged(redis, staged, target, projector, log, opts.pollMs ?? 200);
      const out = await switchOver(
        redis,
        live,
        staged,
        sourceIds,
        partitions,
        cfg.projector.changeStreamLength,
        opts.allowIncomplete,
      );
      if (out.status === 'OK') {
        const events = target.reduce((a, b) => a + b, 0n);
        const seconds = (performance.now() - t0) / 1000;
        log.info(
          {
            version: out.version,
            resources: out.resources,
            lineage: out.lineage,
            seconds: Math.round(seconds * 10) / 10,
            attempts: attempt,
          },
          'rebuild: switched over atomically',
        );
        return { ...out, events, seconds };
      }
      if (out.status === 'INCOMPLETE') {
        throw new RebuildError(
          'rebuild: the topic does not hold a completed first resync of every configured source, but the live snapshot is complete; refusing to switch to an incomplete snapshot (gateways would keep serving the old one)',
        );
      }
      // Live projectors moved on while we caught up: chase their offsets, then try again.
      for (const b of out.behind) if (b.liveOffset > target[b.partition]!) target[b.partition] = b.liveOffset;
      log.info(
        { attempt, behind: out.behind.map((b) => `${b.partition}@${b.liveOffset}`) },
        'rebuild: live projectors are ahead; catching up before switching',
      );
    }
  } finally {
    await projector.stop().catch(() => undefined);
    await cleanup(kafka, redis, cfg.redis.prefix, id, groupId, log);
  }
}

async function waitStaged(
  redis: Redis,
  staged: RedisKeys,
  target: bigint[],
  projector: Projector,
  log: Logger,
  pollMs: number,
): Promise<void> {
  let lastLog = 0;
  for (;;) {
    if (projector.failed) throw new RebuildError(`rebuild: consumer failed: ${projector.failed.message}`);
    const offsets = await Promise.all(
      target.map(async (_, p) => BigInt((await redis.hget(staged.partitionMeta(p), 'offset')) || '0')),
    );
    if (offsets.every((o, p) => o >= target[p]!)) return;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      const done = offsets.reduce((a, b) => a + b, 0n);
      log.info({ consumed: String(done), target: String(target.reduce((a, b) => a + b, 0n)) }, 'rebuild: progress');
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function cleanup(
  kafka: Kafka,
  redis: Redis,
  prefix: string,
  id: string,
  groupId: string,
  log: Logger,
): Promise<void> {
  // After a switch only the staging keys a late fenced batch may have touched are left; after a failure, all of them.
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', stagingPattern(prefix, id), 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.unlink(...found);
  } while (cursor !== '0');
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch (e) {
    log.warn(
      { group: groupId, err: (e as Error).message },
      'rebuild: could not delete the rebuild consumer group; it expires on its own',
    );
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
    process.stdout.write(
      `rebuilt ${r.resources} resources from ${r.events} events in ${r.seconds.toFixed(1)} s; snapshot version ${r.version}, lineage ${r.lineage}\n`,
    );
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
