import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { SnapshotReader } from '../../snapshot-store/follower-read.ts';
import type { RedisKeys } from '../../snapshot-store/keys.ts';
import type { Logger } from '../../services/shared/log.ts';
import { fullSnapshot, patchSnapshot, type Snapshot } from './snapshot.ts';
import { backoff, RETRY } from '../../services/shared/retry.ts';

/**
 * `change`: Redis moved on (cheap; the snapshot is built when someone reads `current`). `snapshot`: the new snapshot,
 * built for each change only while someone listens (tests); the gateway itself only reads `current` when it pushes.
 */
export interface FollowerEvents {
  change: [];
  snapshot: [Snapshot];
}

/**
 * Keeps an in-memory snapshot in step with Redis: a full atomic load at start (and whenever it falls behind or the
 * lineage changes), then incremental syncs driven by the change stream. A sync only records what changed; the next
 * immutable Snapshot is built from all changes since the previous one when `current` is read — once per push, not
 * once per change record (with 10,000 services a copy per change record was most of the gateway's work under churn).
 * Never replaces a complete snapshot with an incomplete one (a Redis that lost its data must not empty the mesh).
 */
export class RedisFollower extends EventEmitter<FollowerEvents> {
  private snap: Snapshot | undefined;
  private lastId = '0-0';
  private stopped = false;
  private loop: Promise<void> | undefined;
  headVersion = 0;
  private readonly reader: SnapshotReader;
  /** Changes read since `snap` was built: resource field -> bytes, or null when removed. */
  private pending = new Map<string, Buffer | null>();
  private pendingHead: { version: number; complete: boolean; readAt: number } | undefined;

  constructor(
    redis: Redis,
    private readonly blocking: Redis,
    private readonly keys: RedisKeys,
    private readonly log: Logger,
    private readonly shards = 1,
  ) {
    super();
    this.reader = new SnapshotReader(redis, keys);
  }

  get current(): Snapshot | undefined {
    const head = this.pendingHead;
    if (this.snap && head) {
      this.snap = patchSnapshot(this.snap, head.version, head.complete, this.pending, head.readAt);
      this.pending = new Map();
      this.pendingHead = undefined;
    }
    return this.snap;
  }

  async load(): Promise<void> {
    const { version, complete, lineage, lastId, resources } = await this.reader.load();
    const next = fullSnapshot(version, lineage, complete, resources, this.shards);
    const served = this.current;
    this.headVersion = next.version;
    if (served?.complete && !next.complete) {
      this.log.warn(
        { served: served.version, redisVersion: next.version },
        'redis snapshot is incomplete (lost data or rebuilding); keep serving the last complete snapshot',
      );
      this.lastId = lastId;
      this.pendingLineage = lineage;
      return;
    }
    if (served?.complete && next.lineage === served.lineage && next.version < served.version) {
      // Redis lost its last writes (kill -9 with AOF everysec): what it holds is older than what istiods already
      // have. Serving it would move them back in time; keep the newer snapshot until the projector has re-committed
      // past it (its versions never go below one it saw), then load that.
      if (!this.behind)
        this.log.warn(
          { served: served.version, redisVersion: next.version },
          'redis is behind the snapshot we serve (it lost its last writes); keep serving ours until it has moved past it',
        );
      this.lastId = lastId;
      this.behind = true;
      return;
    }
    if (this.behind)
      this.log.info({ version: next.version, served: served?.version }, 'redis has moved past the snapshot we served');
    this.behind = false;
    this.lastId = lastId;
    this.pendingLineage = undefined;
    this.publish(next);
    this.log.info(
      { version: next.version, complete: next.complete, resources: resources.size, lineage },
      'snapshot loaded from redis',
    );
  }

  /** True while Redis holds an older version of our lineage than we serve (it lost writes): reload until it passes. */
  private behind = false;

  /** While serving an older complete snapshot, the lineage we track in Redis (incomplete so far). */
  private pendingLineage: string | undefined;

  /** True while Redis holds a different, still incomplete lineage (lost data, rebuild) and we keep the last complete one. */
  get awaitingRebuild(): boolean {
    return this.pendingLineage !== undefined;
  }

  async sync(): Promise<void> {
    const lineage = this.pendingLineage ?? this.snap?.lineage ?? '';
    const read = await this.reader.syncSince(this.lastId, lineage);
    if (read.status === 'NONE') return;
    if (read.status === 'RELOAD' || this.pendingLineage !== undefined || this.behind || !this.snap) {
      if (read.status === 'RELOAD')
        this.log.info(
          { lastId: this.lastId },
          'change stream cannot be followed from our position; reloading the full snapshot',
        );
      return this.load();
    }
    this.lastId = read.lastId;
    for (const [name, value] of read.changed) this.pending.set(name, value.length === 0 ? null : value);
    this.pendingHead = {
      version: read.version,
      complete: read.complete,
      readAt: this.pendingHead?.readAt ?? performance.now(),
    };
    this.headVersion = read.version;
    this.changed();
  }

  private publish(s: Snapshot): void {
    this.snap = s;
    this.pending = new Map();
    this.pendingHead = undefined;
    this.changed();
  }

  private changed(): void {
    this.emit('change');
    if (this.listenerCount('snapshot') > 0) this.emit('snapshot', this.current!);
  }

  /** Follows the change stream until stop(): a blocking XREAD wakes us, the atomic SYNC script reads the change. */
  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await this.blocking.xread('BLOCK', 2000, 'STREAMS', this.keys.changes, this.lastId);
          if (this.stopped) break;
          await this.sync();
        } catch (e) {
          if (this.stopped) break;
          this.log.warn({ err: (e as Error).message }, 'following redis failed; retrying');
          await backoff(RETRY.snapshotFollow, 1);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.blocking.disconnect();
    await this.loop;
  }
}
