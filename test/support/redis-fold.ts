import type { Redis } from 'ioredis';
import { waitFor } from '../../harness/wait.ts';
import { redisKeys } from '../../snapshot-store/keys.ts';

/**
 * What the projector holds in Redis for one source: mesh key -> sorted `address:port` endpoints, read from its
 * per-partition fold state (the truth the ServiceEntries are built from), and the source's epoch per partition.
 */
export async function sourceFold(
  redis: Redis,
  prefix: string,
  partitions: number,
  sourceId: string,
): Promise<{ endpoints: Record<string, string[]>; epochs: number[] }> {
  const keys = redisKeys(prefix);
  const endpoints: Record<string, string[]> = {};
  const epochs: number[] = [];
  for (let p = 0; p < partitions; p++) {
    const all = await redis.hgetall(keys.partitionServices(p));
    for (const [key, json] of Object.entries(all)) {
      const c = JSON.parse(json).sources?.[sourceId];
      if (c)
        endpoints[key] = c.instances
          .flatMap((i: { address: string; ports: Record<string, number> }) =>
            Object.values(i.ports).map((port) => `${i.address}:${port}`),
          )
          .sort();
    }
    const e = await redis.hget(keys.partitionMeta(p), `epoch:${sourceId}`);
    if (e) epochs.push(Number(e));
  }
  return { endpoints, epochs };
}

/** Stable JSON of a host -> endpoints map, for equality checks with readable failures. */
export const canonical = (m: Record<string, string[]>) => JSON.stringify(Object.fromEntries(Object.entries(m).sort()));

/** Waits until the projector's fold of `sourceId` equals `expected()`; the failure shows both sides. */
export async function foldEquals(
  redis: Redis,
  prefix: string,
  partitions: number,
  sourceId: string,
  expected: () => Record<string, string[]>,
  what: string,
): Promise<void> {
  let last: Record<string, string[]> = {};
  await waitFor(
    async () => {
      last = (await sourceFold(redis, prefix, partitions, sourceId)).endpoints;
      return canonical(last) === canonical(expected()) ? true : undefined;
    },
    { what, timeoutMs: 45_000, intervalMs: 200 },
  ).catch((e) => {
    throw new Error(`${(e as Error).message}\n  expected ${canonical(expected())}\n  redis    ${canonical(last)}`);
  });
}

/** The length of an outage a test imposes (not a wait for a result: those use waitFor). */
export const outage = (ms: number) => new Promise((r) => setTimeout(r, ms));
