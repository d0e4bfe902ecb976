import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Config } from '../../services/shared/config.ts';
import type { Logger } from '../../services/shared/log.ts';
import { createMetricsRegistry } from '../../services/shared/metrics.ts';
import { startOpsServer } from '../../services/shared/http-server.ts';
import { dependencyReadiness } from '../../services/shared/retry.ts';
import { metricsObserver, type PushEvent } from './ads-observer.ts';
import { AdsServer } from './ads-server.ts';
import type { Registry } from 'prom-client';
import { gatewayMetrics } from './metrics.ts';
import type { RedisFollower } from './redis-follower.ts';
import { openSnapshotSource, type SnapshotSource } from './snapshot-source.ts';

/** Called after each served-kind response was handed to the transport (benchmarks, tests); keep it cheap. */
export interface GatewayHooks {
  onPushed?: (e: PushEvent) => void;
}

export interface RunningGateway {
  ads: AdsServer;
  follower: RedisFollower;
  /** Shard 0's port (the only one with one shard). */
  grpcPort: number;
  /** Every shard's port, in shard order: istiod lists one `xds://` config source per port. */
  grpcPorts: number[];
  httpPort: number;
  registry: Registry;
  /** Resolves once the first snapshot is loaded from Redis (rejects only if stopped before that). */
  loaded: Promise<void>;
  /** Graceful: not ready, end streams with UNAVAILABLE, close the listener, then Redis and the ops server. */
  stop(graceMs?: number): Promise<void>;
}

/** Server credentials from config: a server certificate (istiod verifies it; no client certificates), or plaintext. */
export function serverCredentials(tls: Config['gateway']['tls']): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    null,
    [{ cert_chain: fs.readFileSync(tls.certFile), private_key: fs.readFileSync(tls.keyFile) }],
    false,
  );
}

/**
 * Assembles one gateway and waits until its first snapshot is loaded from Redis (however long Redis takes to come
 * up). Used in-process by tests and the benchmark; the `gateway` role uses openGateway so it can handle signals while
 * it waits.
 */
export async function startGateway(cfg: Config, log: Logger, hooks: GatewayHooks = {}): Promise<RunningGateway> {
  const gw = await openGateway(cfg, log, hooks);
  await gw.loaded;
  return gw;
}

/**
 * Assembles one gateway without waiting for Redis: ops server (/healthz live, /readyz 503 naming Redis while it is
 * missing) and ADS listener, while `source` (snapshot-source.ts; the role opens it before importing this module)
 * connects to Redis and loads the first snapshot with the dependency backoff (services/shared/retry.ts). istiods may
 * connect at once: every type is answered except ServiceEntry, which is withheld until a complete
 * snapshot is loaded — an istiod that starts while Redis is down waits (not ready) instead of exiting, and never gets
 * an empty answer that would delete live config (docs/operations.md). Through a later Redis outage the last complete
 * snapshot keeps being served.
 */
export async function openGateway(
  cfg: Config,
  log: Logger,
  hooks: GatewayHooks = {},
  source: SnapshotSource = openSnapshotSource(cfg, log),
): Promise<RunningGateway> {
  const { follower, dep: redisDep } = source;
  const registry = createMetricsRegistry('gateway');
  const metrics = gatewayMetrics(registry);
  metrics.probes.served = () => follower.current;
  metrics.probes.headVersion = () => follower.headVersion;
  const g = cfg.gateway;
  const ads = new AdsServer(follower, metricsObserver(metrics, log, hooks.onPushed), {
    debounceMs: g.debounceMs,
    view: { namespaces: g.namespaces, revisions: g.revisions },
    shards: g.shards,
    istiodBufferPadding: g.istiodBufferPadding,
  });
  metrics.probes.maxAckedLag = () => ads.maxAckedLag();
  const ops = await startOpsServer({
    host: g.httpHost,
    port: g.httpPort,
    registry,
    log,
    health: () => ({ ok: true }),
    // Ready only with a complete snapshot (an early partial answer would delete live config in istiod), and not
    // while draining (so a load balancer stops sending new istiods here first). A Redis outage after the first load
    // does not make the gateway unready: it keeps serving the last complete snapshot (detail.missing says Redis is gone).
    ready: () => {
      const deps = dependencyReadiness([redisDep]);
      return {
        ok: Boolean(follower.current?.complete) && !ads.isDraining,
        detail: {
          version: follower.current?.version,
          complete: follower.current?.complete,
          draining: ads.isDraining,
          // Redis lost its data or is being rebuilt: still ready, serving the last complete snapshot meanwhile.
          redisVersion: follower.headVersion,
          awaitingRebuild: follower.awaitingRebuild,
          ...(follower.current ? {} : { waitingFor: 'the first complete snapshot from redis' }),
          missing: deps.missing,
          dependencies: deps.dependencies,
        },
      };
    },
    debug: {
      '/debug/istiods': () => ads.connected(),
      '/debug/resources': async (url) => {
        const snap = follower.current;
        if (!snap) return { version: null, resources: [] };
        // Loaded on first use: the MCP schemas (protobufjs) are not needed to serve, only to show resources decoded.
        const { decodeResource } = await import('../../schemas/mcp-envelope.ts');
        const full = url.searchParams.get('full') === '1';
        return {
          version: snap.version,
          complete: snap.complete,
          lineage: snap.lineage,
          resources: [...snap.resources.entries()]
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([field, any]) => {
              const r = decodeResource(any);
              return full
                ? { field, ...r }
                : { field, version: r.version, createTime: new Date(r.createTimeMs).toISOString() };
            }),
        };
      },
    },
  }).catch(async (e: unknown) => {
    await source.stop(); // stop trying Redis: this gateway will not run
    throw e;
  });
  let grpcPorts: number[];
  try {
    grpcPorts = await ads.listen(g.grpcHost, g.grpcPort, serverCredentials(g.tls));
  } catch (e) {
    await ops.close();
    await source.stop();
    throw e;
  }
  const grpcPort = grpcPorts[0]!;
  log.info(
    { port: grpcPort, ports: grpcPorts, shards: g.shards, tls: Boolean(g.tls) },
    'xds-gateway listening (ADS, state of the world); ServiceEntry withheld until a complete snapshot is loaded',
  );
  return {
    ads,
    follower,
    grpcPort,
    grpcPorts,
    httpPort: ops.port,
    registry,
    loaded: source.loaded,
    async stop(graceMs) {
      await ads.shutdown(graceMs);
      await source.stop();
      await ops.close();
    },
  };
}
