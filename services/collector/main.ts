import type { Config } from '../shared/config.ts';
import { createKafka, createRedis, ensureTopics, partitionCount } from '../shared/clients.ts';
import { createLogger } from '../shared/log.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { startOpsServer } from '../shared/http-server.ts';
import { onShutdown } from '../shared/lifecycle.ts';
import { ConsulSource } from './consul-source.ts';
import { collectorMetrics } from './metrics.ts';
import type { SourceFactory } from './source.ts';
import { SourceSupervisor } from './source-supervisor.ts';
import { ZooKeeperDubboSource } from './zookeeper-dubbo-source.ts';

/** One watcher per source kind. */
const makeSource: SourceFactory = (src, publisher, log, metrics) =>
  src.kind === 'consul' ? new ConsulSource(src, publisher, log, metrics) : new ZooKeeperDubboSource(src, publisher, log, metrics);

export async function runCollector(cfg: Config): Promise<void> {
  const log = createLogger('collector', { collector: cfg.collector.id });
  const registry = createMetricsRegistry('collector');
  const metrics = collectorMetrics(registry);
  const kafka = createKafka(cfg, log, 'collector');
  await ensureTopics(kafka, cfg, log);
  const partitions = await partitionCount(kafka, cfg.kafka.topic);
  // Leader election per source (any number of replicas; one publishes per source), through Redis.
  const redis = cfg.sources.some((s) => s.leaderElection.enabled) ? createRedis(cfg, log, 'collector') : undefined;
  if (redis) await redis.connect();
  const supervisors = cfg.sources.map((src) => new SourceSupervisor(cfg, src, kafka, redis, partitions, makeSource, log, metrics));
  const ops = await startOpsServer({
    host: cfg.collector.httpHost, port: cfg.collector.httpPort, registry, log,
    health: () => ({ ok: true }),
    // Ready = every source is either led elsewhere (standby) or led here, connected and resynced.
    ready: () => {
      const detail = Object.fromEntries(cfg.sources.map((s, i) => {
        const sv = supervisors[i]!;
        return [s.id, { leading: sv.leading, epoch: sv.epoch ?? null, connected: sv.connected, resynced: sv.firstResyncDone }];
      }));
      return { ok: supervisors.every((s) => !s.leading || (s.connected && s.firstResyncDone)), detail };
    },
    debug: {
      // What is wrong with the registry data now (each problem is logged once when it appears and once when gone).
      '/debug/problems': () => Object.fromEntries(cfg.sources.map((s, i) => [s.id, {
        leading: supervisors[i]!.leading,
        problems: supervisors[i]!.problems().map(({ metricField, metricReason, ...p }) => ({ ...p, metric: { field: metricField, reason: metricReason } })),
      }])),
    },
  });
  await Promise.all(supervisors.map((s) => s.start()));
  log.info({ sources: cfg.sources.map((s) => s.id), partitions }, 'collector running');
  onShutdown(log, async () => {
    await Promise.all(supervisors.map((s) => s.stop()));
    redis?.disconnect();
    await ops.close();
  });
}
