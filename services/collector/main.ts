import type { Config } from '../shared/config.ts';
import { createKafka, ensureTopics, partitionCount } from '../shared/clients.ts';
import { createLogger } from '../shared/log.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { startOpsServer } from '../shared/http-server.ts';
import { onShutdown } from '../shared/lifecycle.ts';
import { collectorMetrics } from './metrics.ts';
import { Publisher } from './publisher.ts';
import { ZooKeeperDubboSource } from './zookeeper-dubbo-source.ts';

export async function runCollector(cfg: Config): Promise<void> {
  const log = createLogger('collector', { collector: cfg.collector.id });
  const registry = createMetricsRegistry('collector');
  const metrics = collectorMetrics(registry);
  const kafka = createKafka(cfg, log, 'collector');
  await ensureTopics(kafka, cfg, log);
  const partitions = await partitionCount(kafka, cfg.kafka.topic);
  // Fencing epoch: later publishers have larger epochs; the projector ignores events of older ones.
  const epoch = Date.now();
  const sources = cfg.sources.map((src) => {
    const publisher = new Publisher(cfg, kafka, src, cfg.collector.id, epoch, log, metrics);
    return { publisher, source: new ZooKeeperDubboSource(src, publisher, log, metrics) };
  });
  const ops = await startOpsServer({
    host: cfg.collector.httpHost, port: cfg.collector.httpPort, registry, log,
    health: () => ({ ok: true }),
    ready: () => {
      const detail = Object.fromEntries(cfg.sources.map((s, i) => [s.id, { connected: sources[i]!.source.connected, resynced: sources[i]!.source.firstResyncDone }]));
      return { ok: sources.every((s) => s.source.connected && s.source.firstResyncDone), detail };
    },
  });
  for (const s of sources) await s.publisher.connect(partitions);
  await Promise.all(sources.map((s) => s.source.start()));
  log.info({ sources: cfg.sources.map((s) => s.id), partitions, epoch }, 'collector running');
  onShutdown(log, async () => {
    for (const s of sources) await s.source.stop();
    for (const s of sources) await s.publisher.disconnect();
    await ops.close();
  });
}
