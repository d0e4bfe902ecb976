import type { Redis } from 'ioredis';
import type { ServiceFold } from '../../projection/fold-state.ts';
import type { RedisKeys } from '../../snapshot-store/keys.ts';
import { readLiveFolds } from '../../snapshot-store/live-read.ts';
import { liveEntriesOf, type LiveMesh } from './registry-verify.ts';

/** The live snapshot and every partition's fold, in one atomic read (snapshot-store/live-read.ts). */
export async function readLiveMesh(redis: Redis, keys: RedisKeys): Promise<LiveMesh> {
  const live = await readLiveFolds(redis, keys);
  const entries = liveEntriesOf(live.resources);
  const folds = new Map<string, ServiceFold>();
  for (const [key, json] of live.folds) folds.set(key, JSON.parse(json) as ServiceFold);
  return { version: live.version, lineage: live.lineage, complete: live.complete, entries, folds };
}
