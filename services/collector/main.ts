import type { Config } from '../../services/shared/config.ts';
import { waitForKafka, createKafka } from '../../services/shared/kafka-client.ts';
import { createRedis } from '../../services/shared/redis-client.ts';
import { connectRedis, kafkaDependency, redisDependency } from '../../services/shared/dependency.ts';
import { dependencyReadiness } from '../../services/shared/retry.ts';
import { createLogger } from '../../services/shared/log.ts';
import { createMetricsRegistry } from '../../services/shared/metrics.ts';
import { startOpsServer } from '../../services/shared/http-server.ts';
import { onShutdown } from '../../services/shared/lifecycle.ts';
import { ConsulSource } from './consul-source.ts';
import { EurekaSource } from './eureka-source.ts';
import { NacosSource } from './nacos-source.ts';
import { collectorMetrics } from './metrics.ts';
import type { SourceFactory } from './source.ts';
import { SourceSupervisor } from './source-supervisor.ts';
import { ZooKeeperDubboSource } from './zookeeper-dubbo-source.ts';

/** One watcher per source kind. */
const makeSource: SourceFactory = (src, publisher, log, metrics) => {
  if (src.kind === 'eureka') return new EurekaSource(src, publisher, log, metrics);
  if (src.kind === 'nacos') return new NacosSource(src, publisher, log, metrics);
  if (src.kind === 'consul') return new ConsulSource(src, publisher, log, metrics);
  return new ZooKeeperDubboSource(src, publisher, log, metrics);
};

/**
 * The `collector` role. Starts without its dependencies: the ops server first (/healthz live, /readyz 503 naming what
 * is missing), then Kafka (topics, partition count) and — with leader election — Redis, with the dependency backoff
 * (services/shared/retry.ts); then the sources. A registry that is down is the source's own business (it reconnects).
 */
export async function runCollector(cfg: Config): Promise<void> {
  const log = createLogger('collector', { collector: cfg.collector.id });
  const registry = createMetricsRegistry('collector');
  const metrics = collectorMetrics(registry);
  const kafka = createKafka(cfg, log, 'collector');
  const kafkaDep = kafkaDependency(cfg, log);
  // Leader election per source (any number of replicas; one publishes per source), through Redis.
  const redis = cfg.sources.some((s) => s.leaderElection.enabled) ? createRedis(cfg, log, 'collector') : undefined;
  const redisDep = redis ? redisDependency(cfg, log) : undefined;
  const deps = redisDep ? [kafkaDep, redisDep] : [kafkaDep];
  let supervisors: SourceSupervisor[] = [];
  let stopping = false;
  const stopped = () => stopping;
  const ops = await startOpsServer({
    host: cfg.collector.httpHost,
    port: cfg.collector.httpPort,
    registry,
    log,
    health: () => ({ ok: true }),
    // Ready = dependencies reached, and every source either led elsewhere (standby) or led here, connected and resynced.
    ready: () => {
      const d = dependencyReadiness(deps);
      const detail = Object.fromEntries(
        cfg.sources.map((s, i) => {
          const sv = supervisors[i];
          return [
            s.id,
            {
              leading: sv?.leading ?? false,
              epoch: sv?.epoch ?? null,
              connected: sv?.connected ?? false,
              resynced: sv?.firstResyncDone ?? false,
            },
          ];
        }),
      );
      const sourcesOk =
        supervisors.length > 0 && supervisors.every((s) => !s.leading || (s.connected && s.firstResyncDone));
      return { ok: d.ok && sourcesOk, detail: { ...detail, missing: d.missing, dependencies: d.dependencies } };
    },
    debug: {
      // What is wrong with the registry data now (each problem is logged once when it appears and once when gone).
      '/debug/problems': () =>
        Object.fromEntries(
          cfg.sources.map((s, i) => [
            s.id,
            {
              leading: supervisors[i]?.leading ?? false,
              problems: (supervisors[i]?.problems() ?? []).map(({ metricField, metricReason, ...p }) => ({
                ...p,
                metric: { field: metricField, reason: metricReason },
              })),
            },
          ]),
        ),
    },
  });
  onShutdown(log, async () => {
    stopping = true;
    await Promise.all(supervisors.map((s) => s.stop()));
    redis?.disconnect();
    await ops.close();
  });
  let partitions: number;
  try {
    [partitions] = await Promise.all([
      waitForKafka(kafka, cfg, log, kafkaDep, stopped),
      redis && redisDep ? connectRedis(redis, redisDep, stopped) : undefined,
    ]);
  } catch (e) {
    if (stopping) return; // SIGTERM while waiting for a dependency
    throw e;
  }
  supervisors = cfg.sources.map(
    (src) => new SourceSupervisor(cfg, src, kafka, redis, partitions, makeSource, log, metrics),
  );
  await Promise.all(supervisors.map((s) => s.start()));
  log.info({ sources: cfg.sources.map((s) => s.id), partitions }, 'collector running');
}
