import crypto from 'node:crypto';
import fs from 'node:fs';
import { Kafka, logLevel, CompressionTypes, Partitioners, type Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { encodeEvent, decodeEvent } from '../schemas/event-codec.ts';
import type { RegistryEvent, InstanceSpec } from '../schemas/registry-event.ts';
import { redisKeys, type RedisKeys } from '../snapshot-store/keys.ts';
import { Replay } from '../projection/replay.ts';
import { ensureInstalled } from './install.ts';
import { startKafka, type KafkaServer } from './kafka.ts';
import { startRedis, type RedisServer } from './redis.ts';
import { makeRunDir } from './paths.ts';
import { meshbridgeArgs } from './role-node-flags.ts';
import { freePort } from './ports.ts';
import { pipeline, startAllOrNone, type Pipeline, type Servers } from './stack.ts';
import { ManagedProcess } from './process.ts';
import { waitFor } from './wait.ts';

/**
 * Projector test and benchmark kit: Kafka + Redis only (no ZooKeeper, no istiod), projector replicas as real child
 * processes, events produced directly with the collector's keying, and the proof every projector test ends with:
 * the Redis snapshot equals, byte for byte, a clean Replay of the events read back from the topic.
 */
export interface KafkaRedis {
  kafka: KafkaServer;
  redis: RedisServer;
  runDir: string;
  stop(): Promise<void>;
}

export async function startKafkaRedis(label: string, opts: { redisAof?: boolean } = {}): Promise<KafkaRedis> {
  ensureInstalled(['redis', 'kafka']);
  const runDir = makeRunDir(label);
  const [kafka, redis] = await startAllOrNone([
    startKafka(runDir),
    startRedis(runDir, { appendonly: opts.redisAof }),
  ] as const);
  const servers: KafkaRedis = {
    kafka,
    redis,
    runDir,
    async stop() {
      await Promise.all([servers.kafka.stop(), servers.redis.stop()]);
    },
  };
  return servers;
}

export const SOURCE = 'zk1';

export interface TopicMessage {
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
}
export const NAMESPACE = 'dubbo';

/** A projector deployment under test: unique topic, group and prefix; replicas started and stopped at will. */
export class ProjectorRig {
  readonly kafka: Kafka;
  readonly redis: Redis;
  readonly keys: RedisKeys;
  readonly topic: string;
  readonly dlqTopic: string;
  readonly partitions: number;
  private readonly replicas = new Set<ManagedProcess>();
  private producer: Producer | undefined;
  private readonly partitioner = Partitioners.DefaultPartitioner();

  private constructor(
    readonly base: KafkaRedis,
    readonly mb: Pipeline,
    redisUrl: string,
  ) {
    this.kafka = new Kafka({ brokers: base.kafka.brokers, logLevel: logLevel.NOTHING, clientId: 'projector-kit' });
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(100 * n, 1000) });
    this.keys = redisKeys(mb.config.redis.prefix);
    this.topic = mb.config.kafka.topic;
    this.dlqTopic = mb.config.kafka.deadLetterTopic;
    this.partitions = mb.config.kafka.partitions;
  }

  static async create(
    base: KafkaRedis,
    opts: { partitions?: number; sources?: string[]; redisUrl?: string } = {},
  ): Promise<ProjectorRig> {
    const redisUrl = opts.redisUrl ?? base.redis.url;
    const servers = {
      kafka: base.kafka,
      redis: { ...base.redis, url: redisUrl },
      runDir: base.runDir,
      zookeeper: { connectString: '127.0.0.1:1' },
    } as unknown as Servers;
    const sources = (opts.sources ?? [SOURCE]).map((id) => ({ id, kind: 'zookeeper-dubbo', connect: '127.0.0.1:1' }));
    const mb = await pipeline(servers, { sources, kafka: { partitions: opts.partitions ?? 3, compression: 'gzip' } });
    const rig = new ProjectorRig(base, mb, redisUrl);
    const admin = rig.kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: rig.topic,
            numPartitions: rig.partitions,
            configEntries: [{ name: 'max.message.bytes', value: '16777216' }],
          },
          { topic: rig.dlqTopic, numPartitions: 1 },
        ],
      });
    } finally {
      await admin.disconnect();
    }
    return rig;
  }

  /**
   * Starts one projector replica (a real `meshbridge projector` child process, with the launcher's node flags unless
   * `nodeFlags` replaces them) and waits for /healthz.
   */
  async startReplica(
    name: string,
    env: NodeJS.ProcessEnv = {},
    nodeArgs: string[] = [],
    nodeFlags?: readonly string[],
  ): Promise<{ proc: ManagedProcess; httpPort: number }> {
    const httpPort = await freePort();
    const proc = await this.mb.start('projector', {
      name: `${name}-${crypto.randomBytes(2).toString('hex')}`,
      env: { MESHBRIDGE_LOG_LEVEL: 'info', MESHBRIDGE_PROJECTOR_HTTP_PORT: String(httpPort), ...env },
      nodeArgs,
      nodeFlags,
    });
    this.replicas.add(proc);
    return { proc, httpPort };
  }

  /** Runs `meshbridge projector --rebuild` to completion; returns its exit code. */
  async rebuild(): Promise<{ code: number | null; proc: ManagedProcess }> {
    const proc = new ManagedProcess({
      name: `rebuild-${crypto.randomBytes(2).toString('hex')}`,
      command: process.execPath,
      args: meshbridgeArgs('projector', ['--rebuild', '--config', this.mb.configFile]),
      env: { MESHBRIDGE_LOG_LEVEL: 'info' },
      logDir: this.base.runDir,
    });
    this.replicas.add(proc);
    const code = await proc.wait();
    return { code, proc };
  }

  /** Waits until the process log contains `text` (e.g. a failpoint being reached). */
  async waitForLog(proc: ManagedProcess, text: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      () => {
        proc.assertRunning();
        return fs.readFileSync(proc.logFile, 'utf8').includes(text);
      },
      { what: `"${text}" in ${proc.logFile}`, timeoutMs, intervalMs: 50 },
    );
  }

  partitionOf(key: string): number {
    const partitionMetadata = Array.from({ length: this.partitions }, (_, i) => ({
      partitionId: i,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    return this.partitioner({ topic: this.topic, partitionMetadata, message: { key, value: null } });
  }

  /** Produces events keyed and partitioned exactly as the collector does (RESYNC_END: to `partition`). */
  async produce(
    items: (RegistryEvent | { event: RegistryEvent; partition: number } | { bytes: Buffer; key: string })[],
    chunk = 500,
  ): Promise<void> {
    if (!this.producer) {
      this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await this.producer.connect();
    }
    for (let i = 0; i < items.length; i += chunk) {
      const messages = items.slice(i, i + chunk).map((it) => {
        if ('bytes' in it) return { key: it.key, partition: this.partitionOf(it.key), value: it.bytes };
        const event = 'event' in it ? it.event : it;
        const key = event.kind === 'RESYNC_END' ? `resync/${event.sourceId}` : `${event.namespace}/${event.host}`;
        const partition = 'event' in it ? it.partition : this.partitionOf(key);
        return { key, partition, value: encodeEvent(event) };
      });
      await this.producer.send({ topic: this.topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    }
  }

  /** RESYNC_END markers for `source` on every partition, listing the given live service keys of each partition. */
  resyncEnd(source: string, liveKeys: Iterable<string>, epoch = 1): { event: RegistryEvent; partition: number }[] {
    const per: string[][] = Array.from({ length: this.partitions }, () => []);
    for (const k of liveKeys) per[this.partitionOf(k)]!.push(k);
    return per.map((keys, partition) => ({
      partition,
      event: { ...baseEvent(source, epoch), kind: 'RESYNC_END', resyncServices: keys.sort() },
    }));
  }

  async highWatermarks(topic = this.topic): Promise<bigint[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const offs = await admin.fetchTopicOffsets(topic);
      const out = Array.from({ length: topic === this.topic ? this.partitions : offs.length }, () => 0n);
      for (const o of offs) out[o.partition] = BigInt(o.high);
      return out;
    } finally {
      await admin.disconnect();
    }
  }

  /** Next offsets stored in Redis with the partitions' state (the projector's truth). */
  async storedOffsets(keys = this.keys): Promise<bigint[]> {
    const out: bigint[] = [];
    for (let p = 0; p < this.partitions; p++)
      out.push(BigInt((await this.redis.hget(keys.partitionMeta(p), 'offset')) || '0'));
    return out;
  }

  async waitCaughtUp(timeoutMs = 60_000): Promise<bigint[]> {
    const high = await this.highWatermarks();
    await waitFor(
      async () => {
        const stored = await this.storedOffsets();
        return stored.every((o, p) => o >= high[p]!);
      },
      { what: `projector caught up to ${high.join(',')} (stored ${this.topic})`, timeoutMs, intervalMs: 100 },
    );
    return high;
  }

  /** Every message of the topic below `until` per partition, in offset order, read back with a throw-away group. */
  async readTopic(until: bigint[], topic = this.topic): Promise<TopicMessage[][]> {
    const out = until.map(() => [] as TopicMessage[]);
    const pending = new Set(until.map((u, p) => (u > 0n ? p : -1)).filter((p) => p >= 0));
    if (pending.size === 0) return out;
    const groupId = `readback-${crypto.randomBytes(4).toString('hex')}`;
    const consumer = this.kafka.consumer({ groupId, maxBytesPerPartition: 16 * 1024 * 1024 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let done!: () => void;
      const finished = new Promise<void>((r) => {
        done = r;
      });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const p = batch.partition;
          for (const m of batch.messages) {
            const o = BigInt(m.offset);
            if (o < until[p]! && (out[p]!.length === 0 || out[p]![out[p]!.length - 1]!.offset < o))
              out[p]!.push({ offset: o, key: m.key, value: m.value, headers: m.headers ?? {} });
          }
          if (BigInt(batch.lastOffset()) + 1n >= until[p]!) pending.delete(p);
          if (pending.size === 0) done();
        },
      });
      await waitFor(() => pending.size === 0 || undefined, {
        what: `read back ${topic} to ${until.join(',')}`,
        timeoutMs: 60_000,
      }).catch((e) => {
        throw e;
      });
      await finished;
    } finally {
      await consumer.disconnect();
      const admin = this.kafka.admin();
      await admin.connect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
    return out;
  }

  /** A clean Replay of the topic up to the offsets stored in Redis. */
  async replay(keys = this.keys): Promise<{ replay: Replay; offsets: bigint[]; undecodable: number }> {
    const offsets = await this.storedOffsets(keys);
    const msgs = await this.readTopic(offsets);
    const replay = new Replay();
    let undecodable = 0;
    for (const [p, list] of msgs.entries()) {
      const events: RegistryEvent[] = [];
      for (const m of list) {
        try {
          events.push(decodeEvent(m.value!));
        } catch {
          undecodable++;
        }
      }
      replay.apply(p, events);
    }
    return { replay, offsets, undecodable };
  }

  /**
   * Compares the snapshot in Redis with a clean Replay: same resource names, byte-identical values, same
   * completeness. Returns a description of every difference ('' when equal).
   */
  async diffAgainstReplay(
    keys = this.keys,
    sources = [SOURCE],
  ): Promise<{ diff: string; resources: number; offsets: bigint[] }> {
    const { replay, offsets } = await this.replay(keys);
    const live = await this.redis.hgetallBuffer(keys.resources);
    const problems: string[] = [];
    for (const [f, b] of replay.resources) {
      const got = live[f];
      if (!got) problems.push(`missing in redis: ${f}`);
      else if (!got.equals(b)) problems.push(`bytes differ: ${f}`);
    }
    for (const f of Object.keys(live)) if (!replay.resources.has(f)) problems.push(`extra in redis: ${f}`);
    const complete = (await this.redis.get(keys.complete)) === '1';
    if (complete !== replay.complete(sources, this.partitions))
      problems.push(`complete: redis ${complete}, replay ${!complete}`);
    return {
      diff: problems.slice(0, 20).join('\n') + (problems.length > 20 ? `\n… ${problems.length - 20} more` : ''),
      resources: replay.resources.size,
      offsets,
    };
  }

  async metrics(httpPort: number): Promise<string> {
    return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  }

  async stopReplicas(): Promise<void> {
    await Promise.all([...this.replicas].map((p) => p.stop()));
  }

  async close(): Promise<void> {
    await this.stopReplicas();
    await this.producer?.disconnect().catch(() => undefined);
    this.redis.disconnect();
  }
}

// Prometheus text parsing lives in prom-text.ts; re-exported for the projector tests and benchmark.
export { metricValue } from './prom-text.ts';

function baseEvent(source: string, epoch: number): RegistryEvent {
  return {
    eventId: crypto.randomUUID(),
    kind: 'SERVICE_STATE',
    sourceId: source,
    sourceKind: 'zookeeper-dubbo',
    collectorId: 'kit',
    epoch,
    generation: 'g1',
    observedAt: 1_700_000_000_000,
    namespace: '',
    host: '',
    registryService: '',
    orderToken: null,
    ports: [],
    instances: [],
    issues: [],
    resyncServices: [],
    raw: null,
  };
}

export const hostOf = (i: number) => `svc-${i}.example.local`;
export const keyOf = (i: number) => `${NAMESPACE}/${hostOf(i)}`;

export interface StateOpts {
  source?: string;
  epoch?: number;
  orderToken?: number | null;
  instances?: number;
  variant?: number;
  observedAt?: number;
}

/** A SERVICE_STATE event for service `i`: `instances` endpoints on one TCP port; `variant` moves addresses/labels. */
export function stateEvent(i: number, o: StateOpts = {}): RegistryEvent {
  const source = o.source ?? SOURCE;
  const n = o.instances ?? 10;
  const v = o.variant ?? 0;
  const instances: InstanceSpec[] = Array.from({ length: n }, (_, k) => ({
    address: `10.${(i >> 8) & 255}.${i & 255}.${((k + v) % 250) + 1}`,
    ports: { 'tcp-dubbo': 20880 },
    labels: { 'meshbridge.io/source': source, version: `1.0.${v % 7}`, application: `app-${i % 50}` },
    weight: 100,
    locality: '',
  }));
  // The audit copy the collector attaches: the providers' registry URLs (Dubbo), a few hundred bytes each.
  const raw = JSON.stringify(
    instances.map(
      (x) =>
        `dubbo://${x.address}:20880/com.example.Svc${i}?anyhost=true&application=app-${i % 50}&deprecated=false&dubbo=2.0.2&dynamic=true&generic=false&interface=com.example.Svc${i}&methods=get,put,list,delete&pid=${1000 + i}&release=3.2.0&revision=${x.labels.version}&side=provider&timestamp=${1_700_000_000_000 + v}&version=${x.labels.version}&weight=100`,
    ),
  );
  return {
    ...baseEvent(source, o.epoch ?? 1),
    observedAt: o.observedAt ?? 1_700_000_000_000 + i,
    raw,
    namespace: NAMESPACE,
    host: hostOf(i),
    registryService: `com.example.Svc${i}`,
    orderToken: o.orderToken === undefined ? null : o.orderToken,
    ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
    instances,
  };
}

export function removedEvent(
  i: number,
  o: { source?: string; epoch?: number; orderToken?: number | null } = {},
): RegistryEvent {
  return {
    ...baseEvent(o.source ?? SOURCE, o.epoch ?? 1),
    kind: 'SERVICE_REMOVED',
    namespace: NAMESPACE,
    host: hostOf(i),
    registryService: `com.example.Svc${i}`,
    orderToken: o.orderToken ?? null,
  };
}

/**
 * A deterministic churn workload over `services` services: state updates with moving instances and increasing
 * order tokens, occasional removals and re-creations. `live` tracks which services exist at the end.
 */
export class Churn {
  private token = 1;
  private rnd: () => number;
  readonly live = new Set<number>();
  constructor(
    readonly services: number,
    seed = 1,
    readonly opts: { removeRatio?: number; instances?: number } = {},
  ) {
    let s = seed >>> 0 || 1;
    this.rnd = () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 2 ** 32;
    };
  }

  next(count: number): RegistryEvent[] {
    const out: RegistryEvent[] = [];
    for (let n = 0; n < count; n++) {
      const i = Math.floor(this.rnd() * this.services);
      const token = this.token++;
      if (this.live.has(i) && this.rnd() < (this.opts.removeRatio ?? 0.05)) {
        this.live.delete(i);
        out.push(removedEvent(i, { orderToken: token }));
      } else {
        this.live.add(i);
        out.push(
          stateEvent(i, {
            orderToken: token,
            variant: token,
            instances: this.opts.instances ?? 1 + Math.floor(this.rnd() * 10),
            observedAt: 1_700_000_000_000 + token,
          }),
        );
      }
    }
    return out;
  }

  liveKeys(): string[] {
    return [...this.live].map(keyOf);
  }
}

/** Produces churn in the background until stopped, paced at `perSecond`: load for rebalance/crash tests. */
export class BackgroundLoad {
  private stopped = false;
  private loop: Promise<void> | undefined;
  produced = 0;
  constructor(
    private readonly rig: ProjectorRig,
    private readonly churn: Churn,
    private readonly perSecond = 2000,
    private readonly perRound = 100,
  ) {}
  start(): this {
    const t0 = performance.now();
    this.loop = (async () => {
      while (!this.stopped) {
        await this.rig.produce(this.churn.next(this.perRound));
        this.produced += this.perRound;
        // Pacing, not synchronisation: stay at the configured rate so a dead projector's backlog stays bounded.
        const ahead = (this.produced / this.perSecond) * 1000 - (performance.now() - t0);
        await new Promise((r) => setTimeout(r, Math.max(0, ahead)));
      }
    })();
    return this;
  }
  async stop(): Promise<number> {
    this.stopped = true;
    await this.loop;
    return this.produced;
  }
}
