import crypto from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import { decodeEvent, EventDecodeError } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import type { Config } from '../shared/config.ts';
import { FencedError } from '../shared/errors.ts';
import { redisKeys } from '../shared/keys.ts';
import type { Logger } from '../shared/log.ts';
import { partitionCount } from '../shared/clients.ts';
import type { PartitionState } from './fold-state.ts';
import { foldBatch } from './fold-batch.ts';
import { ProjectorStore } from './redis-store.ts';
import type { ProjectorMetrics } from './metrics.ts';

interface Owned { state: PartitionState; offset: string }

/**
 * The projector's I/O shell: consumes the event topic in a consumer group, folds each fetched partition batch with
 * the pure fold, and commits state + offsets to Redis atomically. Offsets live in Redis, not in Kafka: a new owner
 * of a partition resumes exactly where the last committed batch ended.
 */
export class Projector {
  private consumer: Consumer | undefined;
  private dlq: Producer | undefined;
  private readonly owned = new Map<number, Owned>();
  private partitions = 0;
  private readonly store: ProjectorStore;
  running = false;

  constructor(
    private readonly cfg: Config,
    private readonly kafka: Kafka,
    private readonly redis: Redis,
    private readonly log: Logger,
    private readonly metrics: ProjectorMetrics,
    opts: { prefix?: string } = {},
  ) {
    this.store = new ProjectorStore(redis, redisKeys(opts.prefix ?? cfg.redis.prefix), cfg.sources.map((s) => s.id),
      cfg.projector.changeStreamLength, crypto.randomUUID());
  }

  async start(): Promise<void> {
    this.partitions = await partitionCount(this.kafka, this.cfg.kafka.topic);
    if (this.partitions === 0) throw new Error(`topic ${this.cfg.kafka.topic} has no partitions; start a collector first or create it`);
    this.dlq = this.kafka.producer({ allowAutoTopicCreation: false });
    await this.dlq.connect();
    this.consumer = this.kafka.consumer({
      groupId: this.cfg.projector.groupId,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const mine = new Set(e.payload.memberAssignment[this.cfg.kafka.topic] ?? []);
      // Forget partitions we no longer own: their state may move on under another replica.
      for (const p of this.owned.keys()) if (!mine.has(p)) this.owned.delete(p);
      this.log.info({ partitions: [...mine] }, 'partitions assigned');
      this.metrics.ownedPartitions.set(mine.size);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.cfg.kafka.topic, fromBeginning: true });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const p = batch.partition;
    let owned = this.owned.get(p);
    if (!owned) {
      const loaded = await this.store.loadPartition(p);
      owned = { state: loaded.state, offset: loaded.offset };
      this.owned.set(p, owned);
      this.log.info({ partition: p, offset: owned.offset || 'start', services: loaded.state.services.size }, 'partition state loaded from redis');
    }
    const first = batch.messages[0]!.offset;
    if (owned.offset !== '' && BigInt(first) !== BigInt(owned.offset)) {
      // Kafka's position is not ours: resume exactly at the offset committed with the state.
      if (BigInt(first) > BigInt(owned.offset) || BigInt(batch.lastOffset()) < BigInt(owned.offset)) {
        this.consumer!.seek({ topic: batch.topic, partition: p, offset: owned.offset });
        return;
      }
    }
    const start = performance.now();
    const skipBelow = owned.offset === '' ? -1n : BigInt(owned.offset);
    const events: RegistryEvent[] = [];
    for (const m of batch.messages) {
      if (BigInt(m.offset) < skipBelow) continue;
      try {
        if (!m.value) throw new EventDecodeError('empty message value (tombstone?)');
        events.push(decodeEvent(m.value));
      } catch (e) {
        await this.deadLetter(p, m.offset, m.key, m.value, e as Error);
      }
    }
    const nextOffset = (BigInt(batch.lastOffset()) + 1n).toString();
    const fx = foldBatch(owned.state, events);
    try {
      const out = await this.store.commit({ partition: p, expectedOffset: owned.offset, nextOffset, ...fx }, this.partitions);
      owned.offset = nextOffset;
      this.metrics.snapshotVersion.set(out.version);
      this.metrics.resourcesWritten.inc({ op: 'upsert' }, out.upserted);
      this.metrics.resourcesWritten.inc({ op: 'remove' }, out.removed);
      if (out.upserted + out.removed > 0) this.log.debug({ partition: p, version: out.version, upserted: out.upserted, removed: out.removed }, 'batch committed');
    } catch (e) {
      this.owned.delete(p); // our in-memory fold includes effects Redis did not take: reload before going on
      if (e instanceof FencedError) {
        this.metrics.fenced.inc();
        this.log.warn({ partition: p, ...e.context }, e.message);
        return;
      }
      throw e;
    }
    this.metrics.eventsApplied.inc(fx.applied);
    for (const [reason, n] of Object.entries(fx.ignored)) this.metrics.eventsIgnored.inc({ reason }, n);
    for (const r of fx.rejected) {
      this.metrics.rejected.inc();
      this.log.warn({ service: r.key, problems: r.problems }, 'ServiceEntry would be rejected by istiod; not published, previous version kept');
    }
    for (const n of fx.notes) this.log.info({ service: n.key, notes: n.notes }, 'sources disagree; merge rule applied');
    this.metrics.batchSize.observe(batch.messages.length);
    this.metrics.batchSeconds.observe((performance.now() - start) / 1000);
    this.metrics.lag.set({ partition: String(p) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(nextOffset))));
    resolveOffset(batch.lastOffset());
    await heartbeat();
    // Kafka's committed offset is advisory (lag tooling); Redis holds the truth.
    await this.consumer!.commitOffsets([{ topic: batch.topic, partition: p, offset: nextOffset }]).catch(() => undefined);
  }

  private async deadLetter(partition: number, offset: string, key: Buffer | null, value: Buffer | null, e: Error): Promise<void> {
    this.metrics.deadLettered.inc();
    this.log.error({ partition, offset, err: e.message }, 'undecodable event sent to dead-letter topic; continuing');
    await this.dlq!.send({
      topic: this.cfg.kafka.deadLetterTopic,
      messages: [{
        key, value,
        headers: { 'meshbridge-reason': e.message, 'meshbridge-topic': this.cfg.kafka.topic, 'meshbridge-partition': String(partition), 'meshbridge-offset': offset },
      }],
    });
  }

  /** True once the consumer runs and has state for at least one partition. */
  get ready(): boolean { return this.running; }

  async stop(): Promise<void> {
    this.running = false;
    await this.consumer?.disconnect();
    await this.dlq?.disconnect();
  }
}
