import crypto from 'node:crypto';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { encodeEvent } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import type { Config, SourceConfig } from '../shared/config.ts';
import { compressionOf } from '../shared/clients.ts';
import type { Logger } from '../shared/log.ts';
import type { ServiceState } from './normalise-dubbo.ts';
import type { CollectorMetrics } from './metrics.ts';

const RAW_LIMIT = 64 * 1024;

/**
 * Publishes a source's observations as events. Keyed by mesh identity (namespace/host) and partitioned explicitly
 * with Kafka's default (murmur2) partitioner, so the collector knows which partition each service lives in — the
 * resync marker of a partition lists exactly that partition's services. Sends are serialised per source so the
 * marker follows every event of its resync.
 */
export class Publisher {
  private producer: Producer;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private partitions = 0;
  /** Content hash of what was last published per service: an unchanged state publishes nothing. */
  private readonly lastPublished = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cfg: Config,
    kafka: Kafka,
    private readonly src: SourceConfig,
    private readonly collectorId: string,
    private readonly epoch: number,
    private readonly log: Logger,
    private readonly metrics: CollectorMetrics,
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

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async send(key: string, partition: number, event: RegistryEvent): Promise<void> {
    const start = performance.now();
    await this.producer.send({
      topic: this.cfg.kafka.topic,
      compression: compressionOf(this.cfg),
      acks: -1,
      messages: [{ key, partition, value: encodeEvent(event), headers: { 'meshbridge-kind': event.kind, 'meshbridge-source': event.sourceId } }],
    });
    this.metrics.publishSeconds.observe((performance.now() - start) / 1000);
    this.metrics.published.inc({ source: this.src.id, kind: event.kind });
  }

  /** Publishes the service's complete state unless it equals what was last published. Returns whether it sent. */
  publishState(s: ServiceState, orderToken: number | null, generation: string, raw: unknown): Promise<boolean> {
    return this.enqueue(async () => {
      const key = `${s.namespace}/${s.host}`;
      const hash = crypto.createHash('sha256').update(JSON.stringify([s.ports, s.instances, s.registryService])).digest('hex');
      if (this.lastPublished.get(key) === hash) return false;
      let rawText = JSON.stringify(raw);
      if (rawText.length > RAW_LIMIT) rawText = JSON.stringify({ truncated: true, bytes: rawText.length, head: rawText.slice(0, RAW_LIMIT) });
      for (const i of s.issues) {
        this.metrics.rejectedData.inc({ source: this.src.id, field: i.field.split('.')[0] ?? i.field });
        this.log.warn({ source: this.src.id, service: s.registryService, field: i.field, value: i.value, reason: i.reason, action: i.action }, 'registry data not usable as-is');
      }
      await this.send(key, this.partitionOf(key), {
        ...this.base(generation), kind: 'SERVICE_STATE', namespace: s.namespace, host: s.host, registryService: s.registryService,
        orderToken, ports: s.ports, instances: s.instances, issues: s.issues, raw: rawText,
      });
      this.lastPublished.set(key, hash);
      this.metrics.instances.set({ source: this.src.id, service: key }, s.instances.length);
      return true;
    });
  }

  publishRemoval(namespace: string, host: string, registryService: string, orderToken: number | null, generation: string): Promise<void> {
    return this.enqueue(async () => {
      const key = `${namespace}/${host}`;
      await this.send(key, this.partitionOf(key), { ...this.base(generation), kind: 'SERVICE_REMOVED', namespace, host, registryService, orderToken });
      this.lastPublished.delete(key);
      this.metrics.instances.remove({ source: this.src.id, service: key });
    });
  }

  /** Ends a full resync: one marker per partition, listing the services of this source the resync saw there. */
  publishResyncEnd(generation: string, observed: string[]): Promise<void> {
    return this.enqueue(async () => {
      const perPartition: string[][] = Array.from({ length: this.partitions }, () => []);
      for (const key of observed) perPartition[this.partitionOf(key)]!.push(key);
      for (const [p, keys] of perPartition.entries()) {
        await this.send(`resync/${this.src.id}`, p, {
          ...this.base(generation), kind: 'RESYNC_END', namespace: '', host: '', registryService: '', orderToken: null, resyncServices: keys.sort(),
        });
      }
      // Forget services the resync did not see: if they come back they must be published again.
      const seen = new Set(observed);
      for (const key of [...this.lastPublished.keys()]) if (!seen.has(key)) this.lastPublished.delete(key);
    });
  }

  async disconnect(): Promise<void> {
    await this.chain;
    await this.producer.disconnect();
  }
}
