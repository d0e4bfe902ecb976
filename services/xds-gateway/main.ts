import type { Config } from '../shared/config.ts';
import { createRedis } from '../shared/clients.ts';
import { redisKeys } from '../shared/keys.ts';
import { createLogger } from '../shared/log.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { startOpsServer } from '../shared/http-server.ts';
import { onShutdown } from '../shared/lifecycle.ts';
import { decodeResource } from '../../schemas/mcp-envelope.ts';
import { AdsServer } from './ads-server.ts';
import { gatewayMetrics } from './metrics.ts';
import { RedisFollower } from './redis-follower.ts';

export async function runGateway(cfg: Config): Promise<void> {
  const log = createLogger('gateway');
  const registry = createMetricsRegistry('gateway');
  const metrics = gatewayMetrics(registry);
  const redis = createRedis(cfg, log, 'gateway');
  const blocking = createRedis(cfg, log, 'gateway-follow');
  await Promise.all([redis.connect(), blocking.connect()]);
  const follower = new RedisFollower(redis, blocking, redisKeys(cfg.redis.prefix), log);
  follower.on('snapshot', (s) => {
    metrics.snapshotVersion.set(s.version);
    metrics.resources.set(s.resources.size);
    metrics.redisLag.set(follower.headVersion - s.version);
  });
  // Load before listening: the server never answers from an empty cache.
  await follower.load();
  follower.start();
  const ads = new AdsServer(follower, log, metrics, cfg.gateway.debounceMs);
  const port = await ads.listen(cfg.gateway.grpcHost, cfg.gateway.grpcPort);
  log.info({ port, version: follower.current?.version, complete: follower.current?.complete }, 'xds-gateway listening (ADS, state of the world)');
  const ops = await startOpsServer({
    host: cfg.gateway.httpHost, port: cfg.gateway.httpPort, registry, log,
    health: () => ({ ok: true }),
    // Ready only with a complete snapshot: an early partial answer would delete live config in istiod.
    ready: () => ({ ok: Boolean(follower.current?.complete), detail: { version: follower.current?.version, complete: follower.current?.complete } }),
    debug: {
      '/debug/istiods': () => ads.connected(),
      '/debug/resources': (url) => {
        const snap = follower.current;
        if (!snap) return { version: null, resources: [] };
        const full = url.searchParams.get('full') === '1';
        return {
          version: snap.version, complete: snap.complete, lineage: snap.lineage,
          resources: [...snap.resources.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([field, any]) => {
            const r = decodeResource(any);
            return full ? { field, ...r } : { field, version: r.version, createTime: new Date(r.createTimeMs).toISOString() };
          }),
        };
      },
    },
  });
  onShutdown(log, async () => {
    await ads.shutdown();
    await follower.stop();
    redis.disconnect();
    await ops.close();
  });
}
