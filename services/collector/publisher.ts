import crypto from 'node:crypto';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { encodeEvent } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import type { Config, SourceConfig } from '../shared/config.ts';
import { compressionOf } from '../shared/clients.ts';
import { FencedError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { emptyProtectionDecision } from './empty-protection.ts';
import type { ServiceState } from './service-state.ts';
import type { CollectorMetrics } from './metrics.ts';

const RAW_LIMIT = 64 * 1024;
/** Messages per Kafka produce request: one round trip for a burst or a resync instead of one per service. */
const MAX_BATCH = 500;

interface Queued { message: Message & { partition: number }; kind: string; enqueuedAt: number; key: string; done: (e?: Error) => void }

/**
 * Publishes a source's observations as events. Keyed by mesh identity (namespace/host) and partitioned explicitly
 * with Kafka's default (murmur2) partitioner, so the collector knows which partition each service lives in — the
 * resync marker of a partition lists exactly that partition's services.
 *
 * Events go through one FIFO queue per source, flushed by a single loop in batches (one produce request each), so
 * the order of calls is the order in Kafka and a resync's marker follows every event of its resync. Before each
 * batch the publisher checks that it still holds the source's leadership (`fence`): a superseded replica stops
 * writing at once, and the epoch stamped on its events lets the projector ignore whatever was already in flight.
 */
export class Publisher {
  private producer: Producer;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private partitions = 0;
  /** Content hash of what was last published per service: an unchanged state publishes nothing. */
  private readonly lastPublished = new Map<string, string>();
  /** Instances last published per service (empty-instance protection). */
  private readonly lastCount = new Map<string, number>();
  private queue: Queued[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly cfg: Config,
    kafka: Kafka,
    private readonly src: SourceConfig,
    private readonly collectorId: string,
    readonly epoch: number,
    private readonly log: Logger,
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
    const partitionMetadata = Array.from({ length: this.partitions }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    return this.partitioner({ topic: this.cfg.kafka.topic, partitionMetadata, message: { key, value: null } });
  }

  private base(generation: string): Omit<RegistryEvent, 'kind' | 'namespace' | 'host' | 'registryService' | 'orderToken'> {
    return {
      eventId: crypto.randomUUID(), sourceId: this.src.id, sourceKind: this.src.kind, collectorId: this.collectorId,
      epoch: this.epoch, generation, observedAt: Date.now(), ports: [], instances: [], issues: [], resyncServices: [], raw: null,
    };
  }

  /** Queues one event; resolves once Kafka acknowledged it (acks=all). */
  private enqueue(key: string, partition: number, event: RegistryEvent): Promise<void> {
    if (this.closed) return Promise.reject(new FencedError('publisher closed', { source: this.src.id, epoch: this.epoch }));
    return new Promise((resolve, reject) => {
      this.queue.push({
        key, kind: event.kind, enqueuedAt: performance.now(),
        message: { key, partition, value: encodeEvent(event), headers: { 'meshbridge-kind': event.kind, 'meshbridge-source': event.sourceId } },
        done: (e) => (e ? reject(e) : resolve()),
      });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        const start = performance.now();
        try {
          this.fence();
          await this.producer.send({ topic: this.cfg.kafka.topic, compression: compressionOf(this.cfg), acks: -1, messages: batch.map((q) => q.message) });
        } catch (e) {
          // Not written: forget the hashes so a later observation or the next resync publishes these services again.
          for (const q of batch) this.lastPublished.delete(q.key);
          if (e instanceof FencedError) {
            // Superseded: nothing queued after this may be written either.
            for (const q of this.queue.splice(0)) { this.lastPublished.delete(q.key); q.done(e); }
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

  /** Publishes the service's complete state unless it equals what was last published. Returns whether it sent. */
  async publishState(s: ServiceState, orderToken: number | null, generation: string, raw: unknown): Promise<boolean> {
    const key = `${s.namespace}/${s.host}`;
    for (const i of s.issues) {
      this.metrics.rejectedData.inc({ source: this.src.id, field: i.field.split('.')[0] ?? i.field });
      this.log.warn({ source: this.src.id, service: s.registryService, field: i.field, value: i.value, reason: i.reason, action: i.action }, 'registry data not usable as-is');
    }
    const decision = emptyProtectionDecision(this.src.emptyProtection, this.lastCount.get(key), s.instances.length);
    if (decision === 'hold') {
      this.metrics.emptyProtected.inc({ source: this.src.id });
      this.log.warn({ source: this.src.id, service: s.registryService, host: key, previous: this.lastCount.get(key) }, 'service suddenly reports zero instances; keeping the last state (emptyProtection: keep-last)');
      return false;
    }
    const hash = crypto.createHash('sha256').update(JSON.stringify([s.ports, s.instances, s.registryService])).digest('hex');
    if (this.lastPublished.get(key) === hash) return false;
    this.lastPublished.set(key, hash);
    let rawText = JSON.stringify(raw);
    if (rawText.length > RAW_LIMIT) rawText = JSON.stringify({ truncated: true, bytes: rawText.length, head: rawText.slice(0, RAW_LIMIT) });
    await this.enqueue(key, this.partitionOf(key), {
      ...this.base(generation), kind: 'SERVICE_STATE', namespace: s.namespace, host: s.host, registryService: s.registryService,
      orderToken, ports: s.ports, instances: s.instances, issues: s.issues, raw: rawText,
    });
    this.lastCount.set(key, s.instances.length);
    this.metrics.instances.set({ source: this.src.id, service: key }, s.instances.length);
    return true;
  }

  async publishRemoval(namespace: string, host: string, registryService: string, orderToken: number | null, generation: string): Promise<void> {
    const key = `${namespace}/${host}`;
    this.lastPublished.delete(key);
    this.lastCount.delete(key);
    await this.enqueue(key, this.partitionOf(key), { ...this.base(generation), kind: 'SERVICE_REMOVED', namespace, host, registryService, orderToken });
    this.metrics.instances.remove({ source: this.src.id, service: key });
  }

  /** Ends a full resync: one marker per partition, listing the services of this source the resync saw there. */
  async publishResyncEnd(generation: string, observed: string[]): Promise<void> {
    const perPartition: string[][] = Array.from({ length: this.partitions }, () => []);
    for (const key of observed) perPartition[this.partitionOf(key)]!.push(key);
    // Forget services the resync did not see: if they come back they must be published again.
    const seen = new Set(observed);
    for (const key of [...this.lastPublished.keys()]) if (!seen.has(key)) { this.lastPublished.delete(key); this.lastCount.delete(key); }
    await Promise.all(perPartition.map((keys, p) => this.enqueue(`resync/${this.src.id}`, p, {
      ...this.base(generation), kind: 'RESYNC_END', namespace: '', host: '', registryService: '', orderToken: null, resyncServices: keys.sort(),
    })));
  }

  /** Waits for queued events (unless fenced), then closes the producer. */
  async disconnect(): Promise<void> {
    await this.flushing?.catch(() => undefined);
    this.closed = true;
    await this.producer.disconnect();
  }
}
