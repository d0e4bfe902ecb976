import crypto from 'node:crypto';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { encodeEvent } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import type { Config, SourceConfig } from '../../services/shared/config.ts';
import { compressionOf } from '../../services/shared/kafka-client.ts';
import { FencedError } from '../../services/shared/errors.ts';
import type { StateToPublish } from './decider.ts';
import type { CollectorMetrics } from './metrics.ts';

const RAW_LIMIT = 64 * 1024;
/** Messages per Kafka produce request: one round trip for a burst or a resync instead of one per service. */
const MAX_BATCH = 500;

interface Queued {
  message: Message & { partition: number };
  kind: string;
  enqueuedAt: number;
  key: string;
  done: (e?: Error) => void;
}

/** Where a source's decided events go: Kafka (Publisher), or memory for a one-shot read of a registry (verify). */
export interface EventSink {
  publishState(p: StateToPublish, generation: string, raw: unknown): Promise<void>;
  publishRemoval(
    namespace: string,
    host: string,
    registryService: string,
    orderToken: number | null,
    generation: string,
  ): Promise<void>;
  publishResyncEnd(generation: string, hosts: string[]): Promise<void>;
}

/**
 * Publishes a source's observations as events. Keyed by mesh identity (namespace/host) and partitioned explicitly
 * with Kafka's default (murmur2) partitioner, so the collector knows which partition each service lives in — the
 * resync marker of a partition lists exactly that partition's services.
 *
 * What to publish is decided by the source's decider (`decider.ts`); this class only encodes and writes, in order.
 * Events go through one FIFO queue per source, flushed by a single loop in batches (one produce request each), so
 * the order of calls is the order in Kafka and a resync's marker follows every event of its resync. Before each
 * batch the publisher checks that it still holds the source's leadership (`fence`): a superseded replica stops
 * writing at once, and the epoch stamped on its events lets the projector ignore whatever was already in flight.
 */
export class Publisher implements EventSink {
  private producer: Producer;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private partitions = 0;
  /** Sequence number of the last event built (per epoch: one Publisher per leadership). */
  private seq = 0;
  private queue: Queued[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly cfg: Config,
    kafka: Kafka,
    private readonly src: SourceConfig,
    private readonly collectorId: string,
    readonly epoch: number,
    private readonly metrics: CollectorMetrics,
    /** Throws FencedError when this replica no longer leads the source. */
    private readonly fence: () => void = () => undefined,
  ) {
    // Idempotent producer: retries never duplicate or reorder within a partition.
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  async connect(partitions: number): Promise<void> {
    this.partitions = partitions;
    await this.producer.connect();
  }

  partitionOf(key: string): number {
    const partitionMetadata = Array.from({ length: this.partitions }, (_, i) => ({
      partitionId: i,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    return this.partitioner({ topic: this.cfg.kafka.topic, partitionMetadata, message: { key, value: null } });
  }

  private base(
    generation: string,
  ): Omit<RegistryEvent, 'kind' | 'namespace' | 'host' | 'registryService' | 'orderToken'> {
    return {
      eventId: crypto.randomUUID(),
      sourceId: this.src.id,
      sourceKind: this.src.kind,
      collectorId: this.collectorId,
      epoch: this.epoch,
      seq: ++this.seq,
      generation,
      observedAt: Date.now(),
      ports: [],
      instances: [],
      issues: [],
      resyncServices: [],
      raw: null,
    };
  }

  /** Queues one event; resolves once Kafka acknowledged it (acks=all). */
  private enqueue(key: string, partition: number, event: RegistryEvent): Promise<void> {
    if (this.closed)
      return Promise.reject(new FencedError('publisher closed', { source: this.src.id, epoch: this.epoch }));
    return new Promise((resolve, reject) => {
      this.queue.push({
        key,
        kind: event.kind,
        enqueuedAt: performance.now(),
        message: {
          key,
          partition,
          value: encodeEvent(event),
          headers: { 'meshbridge-kind': event.kind, 'meshbridge-source': event.sourceId },
        },
        done: (e) => (e ? reject(e) : resolve()),
      });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    // Start on a later tick: a batch that fails synchronously (fence() throws when leadership is already gone) would
    // otherwise run this whole loop, and its `finally`, before the caller's `flushing ??=` assignment — leaving
    // `flushing` set to a finished promise, so no later event was ever flushed and every caller waited forever
    // (seen: a collector that lost its lease mid-resync hung in resign, never leading again).
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        const start = performance.now();
        try {
          this.fence();
          await this.producer.send({
            topic: this.cfg.kafka.topic,
            compression: compressionOf(this.cfg),
            acks: -1,
            messages: batch.map((q) => q.message),
          });
        } catch (e) {
          // Not written: the callers' promises reject, and the source's decider publishes these hosts again.
          if (e instanceof FencedError) {
            // Superseded: nothing queued after this may be written either.
            for (const q of this.queue.splice(0)) q.done(e);
          }
          for (const q of batch) q.done(e as Error);
          continue;
        }
        const now = performance.now();
        this.metrics.publishSeconds.observe((now - start) / 1000);
        for (const q of batch) {
          this.metrics.published.inc({ source: this.src.id, kind: q.kind });
          this.metrics.queueSeconds.observe((now - q.enqueuedAt) / 1000);
          q.done();
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Publishes one mesh host's complete state (the decider already decided that it changed). */
  publishState(p: StateToPublish, generation: string, raw: unknown): Promise<void> {
    const s = p.state;
    const key = `${s.namespace}/${s.host}`;
    let rawText = JSON.stringify(raw ?? null);
    if (rawText.length > RAW_LIMIT)
      rawText = JSON.stringify({ truncated: true, bytes: rawText.length, head: rawText.slice(0, RAW_LIMIT) });
    return this.enqueue(key, this.partitionOf(key), {
      ...this.base(generation),
      kind: 'SERVICE_STATE',
      namespace: s.namespace,
      host: s.host,
      registryService: s.registryService,
      orderToken: p.token,
      ports: s.ports,
      instances: s.instances,
      issues: s.issues,
      raw: rawText,
    });
  }

  publishRemoval(
    namespace: string,
    host: string,
    registryService: string,
    orderToken: number | null,
    generation: string,
  ): Promise<void> {
    const key = `${namespace}/${host}`;
    return this.enqueue(key, this.partitionOf(key), {
      ...this.base(generation),
      kind: 'SERVICE_REMOVED',
      namespace,
      host,
      registryService,
      orderToken,
    });
  }

  /** Ends a full resync: one marker per partition, listing the source's mesh hosts there that still exist. */
  async publishResyncEnd(generation: string, hosts: string[]): Promise<void> {
    const perPartition: string[][] = Array.from({ length: this.partitions }, () => []);
    for (const key of hosts) perPartition[this.partitionOf(key)]!.push(key);
    await Promise.all(
      perPartition.map((keys, p) =>
        this.enqueue(`resync/${this.src.id}`, p, {
          ...this.base(generation),
          kind: 'RESYNC_END',
          namespace: '',
          host: '',
          registryService: '',
          orderToken: null,
          resyncServices: keys.sort(),
        }),
      ),
    );
  }

  /** Waits for queued events (unless fenced), then closes the producer. */
  async disconnect(): Promise<void> {
    await this.flushing?.catch(() => undefined);
    this.closed = true;
    await this.producer.disconnect();
  }
}
