import type { Config } from '../../services/shared/config.ts';
import { waitForKafka, createKafka } from '../../services/shared/kafka-client.ts';
import { createRedis } from '../../services/shared/redis-client.ts';
import { createLogger } from '../../services/shared/log.ts';
import { createMetricsRegistry } from '../../services/shared/metrics.ts';
import { startOpsServer } from '../../services/shared/http-server.ts';
import { onShutdown } from '../../services/shared/lifecycle.ts';
import { connectRedis, kafkaDependency, redisDependency } from '../../services/shared/dependency.ts';
import { dependencyReadiness, retryUntil } from '../../services/shared/retry.ts';
import { projectorMetrics } from './metrics.ts';
import { Projector } from './projector.ts';
import { parseFailpoint } from './failpoints.ts';

/**
 * The `projector` role. Starts without its dependencies: the ops server first (/healthz live, /readyz 503 naming what
 * is missing), then Redis and Kafka with the dependency backoff (services/shared/retry.ts), then the consumer.
 */
export async function runProjector(cfg: Config): Promise<void> {
  const log = createLogger('projector');
  const registry = createMetricsRegistry('projector');
  const metrics = projectorMetrics(registry);
  const kafka = createKafka(cfg, log, 'projector');
  const redis = createRedis(cfg, log, 'projector');
  const redisDep = redisDependency(cfg, log);
  const kafkaDep = kafkaDependency(cfg, log);
  const failpoint = parseFailpoint(process.env.MESHBRIDGE_PROJECTOR_FAILPOINT);
  let projector: Projector | undefined;
  let stopping = false;
  const stopped = () => stopping;
  const ops = await startOpsServer({
    host: cfg.projector.httpHost,
    port: cfg.projector.httpPort,
    registry,
    log,
    // Live unless the consumer died for good (kafkajs gave up restarting it): then a restart is the fix.
    health: () => ({
      ok: !projector?.failed,
      detail: projector?.failed ? { consumer: projector.failed.message } : undefined,
    }),
    ready: () => {
      const deps = dependencyReadiness([redisDep, kafkaDep]);
      return {
        ok: deps.ok && Boolean(projector?.ready) && redis.status === 'ready',
        detail: {
          consumer: projector?.ready ?? false,
          joined: projector?.joined ?? false,
          redis: redis.status,
          positions: projector?.positions ?? {},
          missing: deps.missing,
          dependencies: deps.dependencies,
        },
      };
    },
    debug: { '/debug/positions': () => projector?.positions ?? {} },
  });
  onShutdown(log, async () => {
    stopping = true;
    await projector?.stop();
    redis.disconnect();
    await ops.close();
  });
  try {
    await Promise.all([connectRedis(redis, redisDep, stopped), waitForKafka(kafka, cfg, log, kafkaDep, stopped)]);
    // Joining the group can still fail (Kafka went away again, coordinator moving): a fresh consumer per attempt.
    await retryUntil(
      kafkaDep,
      async () => {
        const p = new Projector(cfg, kafka, redis, log, metrics, { failpoint });
        projector = p;
        try {
          await p.start();
        } catch (e) {
          await p.stop().catch(() => undefined);
          throw e;
        }
      },
      { stopped },
    );
  } catch (e) {
    if (stopping) return; // SIGTERM while waiting for a dependency
    throw e;
  }
  log.info({ topic: cfg.kafka.topic, group: cfg.projector.groupId }, 'projector running');
}
