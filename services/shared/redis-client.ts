import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { tlsOptions } from './tls-options.ts';

/** How to reach Redis besides the URL: ACL user and password (redis.username/password), TLS (redis.tls). */
export function redisConnectionOptions(cfg: Config): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  const { username, password, tls } = cfg.redis;
  return {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(tls ? { tls: tlsOptions(tls) } : {}),
  };
}

export function createRedis(cfg: Config, log: Logger, name: string): Redis {
  const r = new Redis(cfg.redis.url, {
    ...redisConnectionOptions(cfg),
    connectionName: `meshbridge-${name}`,
    maxRetriesPerRequest: null, // keep commands queued across a Redis restart instead of failing them
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: true,
  });
  r.on('error', (e) => log.warn({ err: e.message, redis: name }, 'redis connection error'));
  return r;
}
