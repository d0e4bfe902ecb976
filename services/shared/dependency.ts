import net from 'node:net';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { Dependency, redisAddress, retryUntil } from './retry.ts';

/**
 * A role's view of Redis and Kafka while it waits for them (at start) and, for Redis, while it runs: each attempt and
 * outage goes through a Dependency (retry.ts), so /readyz and the logs name the dependency, its address and since when.
 */
export const redisDependency = (cfg: Config, log: Logger) => new Dependency('redis', redisAddress(cfg.redis.url), log);
export const kafkaDependency = (cfg: Config, log: Logger) => new Dependency('kafka', cfg.kafka.brokers.join(','), log);

/**
 * Connects a lazyConnect ioredis client (createRedis) with the dependency backoff, then keeps `dep` in step with the
 * connection: ioredis reconnects on its own after the first connection (commands queue meanwhile), and each outage
 * is logged once at warn by `dep` instead of an ioredis error line per reconnection attempt. Resolves once connected;
 * rejects only when `stopped()` turns true.
 */
export async function connectRedis(redis: Redis, dep: Dependency, stopped: () => boolean = () => false): Promise<void> {
  let connected = false;
  let lastError: Error | undefined;
  // Replaces createRedis's per-attempt warning: the outage is reported once by `dep`, its repeats at debug.
  redis.removeAllListeners('error');
  redis.on('error', (e: Error) => {
    if (connected) dep.down(e, { member: redis });
    else lastError = e;
  });
  redis.on('ready', () => {
    if (connected) dep.up(redis);
  });
  redis.on('close', () => {
    if (connected && !stopped()) dep.down(new Error('connection closed'), { member: redis });
  });
  await retryUntil(
    dep,
    async () => {
      lastError = undefined;
      try {
        await redis.connect();
      } catch (e) {
        // Stop ioredis's own reconnection loop: the next attempt is ours, after the policy's delay.
        await endOf(redis);
        // ioredis rejects with a bare "Connection is closed."; the socket's error says why (ECONNREFUSED, auth, TLS).
        throw lastError ?? e;
      }
    },
    // Each client is a member of `dep`: a role with two connections has one outage, not one per connection.
    { stopped, member: redis },
  );
  connected = true;
}

/** Disconnects and waits until the client has ended (so connect() may be called again). */
async function endOf(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  const ended = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 2_000); // never hang on a missing event
    redis.once('end', () => {
      clearTimeout(t);
      resolve();
    });
  });
  redis.disconnect();
  await ended;
}

/** Resolves when one of `addresses` (host:port) accepts a TCP connection; rejects with every failure otherwise. */
export async function anyReachable(addresses: string[], timeoutMs = 3_000): Promise<string> {
  const errors: string[] = [];
  for (const a of addresses) {
    const i = a.lastIndexOf(':');
    try {
      await tcpConnect(a.slice(0, i), Number(a.slice(i + 1)), timeoutMs);
      return a;
    } catch (e) {
      errors.push(`${a}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no broker reachable (${errors.join('; ')})`);
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    });
    sock.once('connect', () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', (e) => {
      sock.destroy();
      reject(e);
    });
  });
}
