import type { Redis } from 'ioredis';
import type { Config } from '../../services/shared/config.ts';
import { connectRedis, redisDependency } from '../../services/shared/dependency.ts';
import type { Logger } from '../../services/shared/log.ts';
import { createRedis } from '../../services/shared/redis-client.ts';
import type { Dependency } from '../../services/shared/retry.ts';
import { retryUntil } from '../../services/shared/retry.ts';
import { redisKeys } from '../../snapshot-store/keys.ts';
import { RedisFollower } from './redis-follower.ts';

/** The gateway's Redis side: two connections, the follower, and the first snapshot load under way. */
export interface SnapshotSource {
  redis: Redis;
  blocking: Redis;
  dep: Dependency;
  follower: RedisFollower;
  /** Resolves once the first snapshot is loaded and followed (rejects only if stopped before that). */
  loaded: Promise<void>;
  /** Resolves once the first load has been sent to Redis (never, while Redis is missing). */
  loadRequested: Promise<void>;
  /** Stops waiting for Redis, stops following, closes both connections. */
  stop(): Promise<void>;
}

/**
 * Connects to Redis and loads the first snapshot at once, with the dependency backoff. Opened before the rest of
 * the gateway is even imported (main.ts): Redis executes the load and sends its ~10 MiB while this process is still
 * loading gRPC and the metrics code and opening its listeners, instead of after. Nothing here waits for Redis, so the
 * ops server and the ADS listener still come up while Redis is missing.
 */
export function openSnapshotSource(cfg: Config, log: Logger): SnapshotSource {
  const dep = redisDependency(cfg, log);
  const redis = createRedis(cfg, log, 'gateway');
  const blocking = createRedis(cfg, log, 'gateway-follow');
  const follower = new RedisFollower(redis, blocking, redisKeys(cfg.redis.prefix), log, cfg.gateway.shards);
  let stopped = false;
  const isStopped = () => stopped;
  let requested: () => void = () => undefined;
  const loadRequested = new Promise<void>((r) => {
    requested = r;
  });
  const loaded = (async () => {
    // Both connections are members of one Dependency: one outage for the two, over when both are through.
    await Promise.all([connectRedis(redis, dep, isStopped), connectRedis(blocking, dep, isStopped)]);
    await retryUntil(
      dep,
      () => {
        const load = follower.load(); // ioredis writes the transaction to the socket before this returns
        requested();
        return load;
      },
      { stopped: isStopped },
    );
    if (stopped) throw new Error('gateway stopped before its first snapshot was loaded');
    follower.start();
    log.info({ version: follower.current?.version, complete: follower.current?.complete }, 'following redis');
  })();
  loaded.catch(() => undefined); // observed by the gateway / the role; a stop while waiting is not an error
  return {
    redis,
    blocking,
    dep,
    follower,
    loaded,
    loadRequested,
    async stop() {
      stopped = true;
      await follower.stop();
      redis.disconnect();
    },
  };
}
