import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { encodeResource } from '../schemas/mcp-envelope.ts';
import { redisKeys, type RedisKeys } from '../snapshot-store/keys.ts';
import { PartitionStore } from '../snapshot-store/partition-commit.ts';
import { resourceField } from '../snapshot-store/resource-field.ts';

/**
 * Writes snapshots into Redis exactly as the projector does — through the snapshot store's atomic commit script
 * (PartitionStore), so resources, version, change stream, completeness and lineage have the real layout — without
 * Kafka. Gateway tests and the gateway benchmark use it to drive a gateway from a known state.
 */
export class SnapshotWriter {
  readonly keys: RedisKeys;
  private readonly store: PartitionStore;
  private offset = '';

  private constructor(
    readonly redis: Redis,
    readonly prefix: string,
    streamMaxLen: number,
  ) {
    this.keys = redisKeys(prefix);
    this.store = new PartitionStore(redis, this.keys, [SOURCE], streamMaxLen);
  }

  static async open(
    url: string,
    prefix = `gw-${crypto.randomBytes(4).toString('hex')}`,
    opts: { streamMaxLen?: number } = {},
  ): Promise<SnapshotWriter> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null });
    await redis.connect();
    return new SnapshotWriter(redis, prefix, opts.streamMaxLen ?? 10_000);
  }

  /**
   * One projector batch: upserts (field → encoded Any) and deletes; `complete` marks the single source's first resync
   * as done (the snapshot becomes complete). Returns the new global version.
   */
  async commit(
    upserts: Map<string, Buffer>,
    deletes: string[] = [],
    opts: { complete?: boolean } = {},
  ): Promise<number> {
    const next = String(Number(this.offset || '0') + 1);
    const out = await this.store.commit(
      {
        partition: 0,
        expectedOffset: this.offset,
        nextOffset: next,
        serviceUpserts: new Map(),
        serviceDeletes: [],
        resourceUpserts: upserts,
        resourceDeletes: deletes,
        metaSets: [],
        metaDeletes: [],
        resyncedSources: opts.complete ? [SOURCE] : [],
      },
      1,
    );
    this.offset = next;
    return out.version;
  }

  /** Forget the stored offset (after the Redis server lost its data). */
  resetOffset(): void {
    this.offset = '';
  }

  /** The offset the last commit stored; `rewindTo` it after Redis came back with older data (as the projector reloads). */
  get storedOffset(): string {
    return this.offset;
  }
  rewindTo(offset: string): void {
    this.offset = offset;
  }

  close(): void {
    this.redis.disconnect();
  }
}

const SOURCE = 'src';

export interface FakeService {
  namespace: string;
  host: string;
  endpoints: number;
  port?: number;
  seed?: number;
  labels?: Record<string, string>;
}

/** A STATIC ServiceEntry with `endpoints` instances, encoded with the real MCP encoder; returns [hash field, Any bytes]. */
export function serviceEntry(s: FakeService): [string, Buffer] {
  const port = s.port ?? 20880;
  const seed = s.seed ?? 0;
  const endpoints = Array.from({ length: s.endpoints }, (_, i) => ({
    address: `10.${(seed >> 8) & 255}.${seed & 255}.${i + 1}`,
    ports: { 'tcp-dubbo': port },
    labels: { 'meshbridge.io/source': SOURCE, version: '1.0.0' },
  }));
  const body = {
    hosts: [s.host],
    ports: [{ number: port, protocol: 'TCP', name: 'tcp-dubbo' }],
    location: 1, // MESH_INTERNAL
    resolution: 1, // STATIC
    endpoints,
  };
  const name = `${s.namespace}/${s.host}`;
  const r = encodeResource(
    'ServiceEntry',
    {
      name,
      createTimeMs: 1_700_000_000_000,
      labels: { 'app.kubernetes.io/managed-by': 'meshbridge', ...s.labels },
      annotations: { 'meshbridge.io/sources': SOURCE },
    },
    body,
  );
  return [resourceField('ServiceEntry', name), r.any];
}
