import type { Config } from '../shared/config.ts';
import { createKafka, createRedis, ensureTopics } from '../shared/clients.ts';
import { createLogger } from '../shared/log.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { startOpsServer } from '../shared/http-server.ts';
import { onShutdown } from '../shared/lifecycle.ts';
import { projectorMetrics } from './metrics.ts';
import { Projector } from './projector.ts';

export async function runProjector(cfg: Config): Promise<void> {
  const log = createLogger('projector');
  const registry = createMetricsRegistry('projector');
  const metrics = projectorMetrics(registry);
  const kafka = createKafka(cfg, log, 'projector');
  const redis = createRedis(cfg, log, 'projector');
  await redis.connect();
  await ensureTopics(kafka, cfg, log);
  const projector = new Projector(cfg, kafka, redis, log, metrics);
  const ops = await startOpsServer({
    host: cfg.projector.httpHost, port: cfg.projector.httpPort, registry, log,
    health: () => ({ ok: true }),
    ready: () => ({ ok: projector.ready && redis.status === 'ready', detail: { consumer: projector.ready, redis: redis.status } }),
  });
  await projector.start();
  log.info({ topic: cfg.kafka.topic, group: cfg.projector.groupId }, 'projector running');
  onShutdown(log, async () => {
    await projector.stop();
    redis.disconnect();
    await ops.close();
  });
}
