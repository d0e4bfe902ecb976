import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Config } from '../shared/config.ts';
import { createRedis } from '../shared/clients.ts';
import { redisKeys } from '../shared/keys.ts';
import type { Logger } from '../shared/log.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { startOpsServer } from '../shared/http-server.ts';
import { decodeResource } from '../../schemas/mcp-envelope.ts';
import { AdsServer, type AdsServerOptions } from './ads-server.ts';
import type { Registry } from 'prom-client';
import { gatewayMetrics } from './metrics.ts';
import { RedisFollower } from './redis-follower.ts';

export interface RunningGateway {
  ads: AdsServer;
  follower: RedisFollower;
  grpcPort: number;
  httpPort: number;
  registry: Registry;
  /** Graceful: not ready, end streams with UNAVAILABLE, close the listener, then Redis and the ops server. */
  stop(graceMs?: number): Promise<void>;
}

/** Server credentials from config: a server certificate (istiod verifies it; no client certificates), or plaintext. */
export function serverCredentials(tls: Config['gateway']['tls']): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(tls.certFile), private_key: fs.readFileSync(tls.keyFile) }], false);
}

/**
 * Assembles one gateway: Redis follower (snapshot loaded before the port opens, so the server never answers from an
 * empty cache), ADS server, ops server. Used by the `gateway` role and, in-process, by tests and the benchmark.
 */
export async function startGateway(cfg: Config, log: Logger, hooks: Pick<AdsServerOptions, 'onPushed'> = {}): Promise<RunningGateway> {
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
  await follower.load();
  follower.start();
  const g = cfg.gateway;
  const ads = new AdsServer(follower, log, metrics, { debounceMs: g.debounceMs, view: { namespaces: g.namespaces, revisions: g.revisions }, ...hooks });
  const grpcPort = await ads.listen(g.grpcHost, g.grpcPort, serverCredentials(g.tls));
  log.info({ port: grpcPort, tls: Boolean(g.tls), version: follower.current?.version, complete: follower.current?.complete }, 'xds-gateway listening (ADS, state of the world)');
  const ops = await startOpsServer({
    host: g.httpHost, port: g.httpPort, registry, log,
    health: () => ({ ok: true }),
    // Ready only with a complete snapshot (an early partial answer would delete live config in istiod), and not
    // while draining (so a load balancer stops sending new istiods here first).
    ready: () => ({
      ok: Boolean(follower.current?.complete) && !ads.isDraining,
      detail: {
        version: follower.current?.version, complete: follower.current?.complete, draining: ads.isDraining,
        // Redis lost its data or is being rebuilt: still ready, serving the last complete snapshot meanwhile.
        redisVersion: follower.headVersion, awaitingRebuild: follower.awaitingRebuild,
      },
    }),
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
  return {
    ads, follower, grpcPort, httpPort: ops.port, registry,
    async stop(graceMs) {
      await ads.shutdown(graceMs);
      await follower.stop();
      redis.disconnect();
      await ops.close();
    },
  };
}
