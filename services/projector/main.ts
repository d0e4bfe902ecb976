import type { Config } from '../shared/config.ts';
import { createKafka, createRedis, ensureTopics } from '../shared/clients.ts';
import { createLogger } from '../shared/log.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { startOpsServer } from '../shared/http-server.ts';
import { onShutdown } from '../shared/lifecycle.ts';
import { projectorMetrics } from './metrics.ts';
import { Projector } from './projector.ts';
import { parseFailpoint } from './failpoints.ts';

export async function runProjector(cfg: Config): Promise<void> {
  const log = createLogger('projector');
  const registry = createMetricsRegistry('projector');
  const metrics = projectorMetrics(registry);
  const kafka = createKafka(cfg, log, 'projector');
  const redis = createRedis(cfg, log, 'projector');
  await redis.connect();
  await ensureTopics(kafka, cfg, log);
  const projector = new Projector(cfg, kafka, redis, log, metrics, { failpoint: parseFailpoint(process.env.MESHBRIDGE_PROJECTOR_FAILPOINT) });
  const ops = await startOpsServer({
    host: cfg.projector.httpHost, port: cfg.projector.httpPort, registry, log,
    // Live unless the consumer died for good (kafkajs gave up restarting it): then a restart is the fix.
    health: () => ({ ok: !projector.failed, detail: projector.failed ? { consumer: projector.failed.message } : undefined }),
    ready: () => ({
      ok: projector.ready && redis.status === 'ready',
      detail: { consumer: projector.ready, joined: projector.joined, redis: redis.status, positions: projector.positions },
    }),
    debug: { '/debug/positions': () => projector.positions },
  });
  await projector.start();
  log.info({ topic: cfg.kafka.topic, group: cfg.projector.groupId }, 'projector running');
  onShutdown(log, async () => {
    await projector.stop();
    redis.disconnect();
    await ops.close();
  });
}
