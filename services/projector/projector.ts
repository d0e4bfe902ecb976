import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import { decodeLazily } from '../../projection/decode-projection.ts';
import type { Config } from '../../services/shared/config.ts';
import { FencedError } from '../../services/shared/errors.ts';
import { redisKeys, type RedisKeys } from '../../snapshot-store/keys.ts';
import type { Logger } from '../../services/shared/log.ts';
import { partitionCount } from '../../services/shared/kafka-client.ts';
import type { PartitionState } from '../../projection/fold-state.ts';
import { foldBatch } from '../../projection/fold-batch.ts';
import { ProjectorStore } from './redis-store.ts';
import type { ProjectorMetrics } from './metrics.ts';
import { Failpoints, type Failpoint } from './failpoints.ts';
import { AdvisoryOffsets } from './advisory-offsets.ts';
import { monotonicMs } from '../../services/shared/monotonic.ts';

interface Owned {
  state: PartitionState;
  /** Next offset to consume, as stored in Redis with `state` ('' = never committed: start of the log). */
  offset: string;
  lineage: string;
  /** The offset we last asked Kafka to seek to; a fetch that then starts later means the log has a gap there. */
  soughtTo?: string;
}

interface DeadLetter {
  message: KafkaMessage;
  reason: 'undecodable' | 'invalid';
  detail: string;
}

export interface ProjectorOptions {
  /** Where the snapshot lives (default: the configured prefix). A rebuild points this at its staging keys. */
  keys?: RedisKeys;
  /** Consumer group (default: the configured one). A rebuild reads the topic in a group of its own. */
  groupId?: string;
  /** Send poison events to the dead-letter topic (default true; a rebuild re-reads events that already went there). */
  deadLetter?: boolean;
  failpoint?: Failpoint;
  /** Most events folded and committed in one atomic step (default: projector.maxBatchEvents). */
  maxBatch?: number;
}

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
  private readonly failpoints: Failpoints;
  private readonly groupId: string;
  private readonly deadLetterOn: boolean;
  private readonly maxBatch: number;
  private readonly advisory: AdvisoryOffsets;
  private advisoryTimer: NodeJS.Timeout | undefined;
  running = false;
  /** Joined the group and got an assignment at least once. */
  joined = false;
  /** The consumer crashed and kafkajs will not restart it: the process is useless and should be replaced. */
  failed: Error | undefined;

  constructor(
    private readonly cfg: Config,
    private readonly kafka: Kafka,
    redis: Redis,
    private readonly log: Logger,
    private readonly metrics: ProjectorMetrics,
    opts: ProjectorOptions = {},
  ) {
    this.store = new ProjectorStore(
      redis,
      opts.keys ?? redisKeys(cfg.redis.prefix),
      cfg.sources.map((s) => s.id),
      cfg.projector.changeStreamLength,
    );
    this.failpoints = new Failpoints(opts.failpoint, log);
    this.groupId = opts.groupId ?? cfg.projector.groupId;
    this.deadLetterOn = opts.deadLetter ?? true;
    this.maxBatch = opts.maxBatch ?? cfg.projector.maxBatchEvents;
    this.advisory = new AdvisoryOffsets(cfg.projector.offsetCommitIntervalMs);
  }

  async start(): Promise<void> {
    this.partitions = await partitionCount(this.kafka, this.cfg.kafka.topic);
    if (this.partitions === 0)
      throw new Error(`topic ${this.cfg.kafka.topic} has no partitions; start a collector first or create it`);
    if (this.deadLetterOn) {
      this.dlq = this.kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
      await this.dlq.connect();
    }
    this.consumer = this.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      // Registry events compress ~12:1 and kafkajs inflates a whole fetch before handing any of it over: 2 MiB of
      // gzip per partition is ~16,000 events, about one maxBatchEvents slice. 8/64 MiB fetches were slower in
      // bench:projector (25.9k vs 26.8k events/s) and the replica reached 2.2 GB resident catching up.
      maxBytesPerPartition: 2 * 1024 * 1024,
      maxBytes: 12 * 1024 * 1024,
      // batchWaitMs 0: the broker answers as soon as any event is there (and waits up to 5 s when there is none).
      ...(this.cfg.projector.batchWaitMs > 0
        ? { minBytes: 1024 * 1024, maxWaitTimeInMs: this.cfg.projector.batchWaitMs }
        : {}),
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const mine = new Set(e.payload.memberAssignment[this.cfg.kafka.topic] ?? []);
      // Forget partitions we no longer own: their state may move on under another replica.
      for (const p of this.owned.keys()) {
        if (!mine.has(p)) {
          this.owned.delete(p);
          this.advisory.forget(p);
          this.metrics.lag.remove({ partition: String(p) });
          this.metrics.committedOffset.remove({ partition: String(p) });
        }
      }
      this.joined = true;
      this.log.info({ partitions: [...mine].sort((a, b) => a - b) }, 'partitions assigned');
      this.metrics.ownedPartitions.set(mine.size);
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      // kafkajs restarts the consumer itself after a retriable crash (a Kafka outage): that is a warning, not a page.
      this.log[e.payload.restart ? 'warn' : 'error'](
        { err: e.payload.error.message, restart: e.payload.restart },
        e.payload.restart ? 'consumer crashed; kafkajs restarts it' : 'consumer crashed and will not be restarted',
      );
      if (!e.payload.restart) this.failed = e.payload.error;
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.cfg.kafka.topic, fromBeginning: true });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Folding is synchronous; concurrency overlaps one partition's Redis commit and fetch with another's fold.
      partitionsConsumedConcurrently: 3,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  private async ownedPartition(p: number): Promise<Owned> {
    let owned = this.owned.get(p);
    if (!owned) {
      const loaded = await this.store.loadPartition(p);
      owned = { state: loaded.state, offset: loaded.offset, lineage: loaded.lineage };
      this.owned.set(p, owned);
      this.log.info(
        {
          partition: p,
          offset: owned.offset || 'start',
          services: loaded.state.services.size,
          lineage: loaded.lineage || 'none',
        },
        'partition state loaded from redis',
      );
    }
    return owned;
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const p = batch.partition;
    const owned = await this.ownedPartition(p);
    // Kafka's position is not ours: resume exactly at the offset committed with the state (the start of the log if
    // Redis has none). A fetch that starts after that offset even right after seeking there means the log has a
    // gap (retention, transaction markers): nothing to miss, go on.
    const want = owned.offset === '' ? 0n : BigInt(owned.offset);
    const first = BigInt(batch.messages[0]!.offset);
    const last = BigInt(batch.lastOffset());
    if (last < want || (first > want && owned.soughtTo !== String(want))) {
      owned.soughtTo = String(want);
      this.consumer!.seek({ topic: batch.topic, partition: p, offset: String(want) });
      return;
    }
    // A fetch can hold tens of thousands of events: fold and commit it in slices so each atomic step stays small
    // and we heartbeat between them (a long silent batch would get this member evicted mid-work).
    const msgs = batch.messages.filter((m) => BigInt(m.offset) >= want);
    // (An empty slice still advances the stored offset past records Kafka does not deliver, e.g. transaction markers.)
    for (let i = 0; i === 0 || i < msgs.length; i += this.maxBatch) {
      if (!isRunning() || isStale()) return;
      const slice = msgs.slice(i, i + this.maxBatch);
      const end = i + this.maxBatch >= msgs.length ? last : BigInt(slice[slice.length - 1]!.offset);
      if (!(await this.applySlice(p, owned, slice, end, BigInt(batch.highWatermark)))) return;
      resolveOffset(String(end));
      await heartbeat();
    }
    // Kafka's committed offset is advisory (lag tooling); Redis holds the truth. Paced, and not waited for.
    this.reportOffset(p, owned.offset);
  }

  private reportOffset(p: number, offset: string): void {
    const wait = this.advisory.record(p, offset, monotonicMs());
    if (wait === 0) void this.sendOffsets();
    else
      this.advisoryTimer ??= setTimeout(() => {
        this.advisoryTimer = undefined;
        void this.sendOffsets();
      }, wait);
  }

  /** Sends the positions recorded since the last send in one OffsetCommit; a failure waits for the next one. */
  private async sendOffsets(): Promise<void> {
    const offsets = this.advisory.take(monotonicMs());
    if (offsets.length === 0 || !this.consumer) return;
    const topic = this.cfg.kafka.topic;
    await this.consumer
      .commitOffsets(offsets.map((o) => ({ topic, ...o })))
      .catch((e: unknown) => this.log.debug({ err: (e as Error).message }, 'advisory offset commit failed'));
  }

  /** Decode, fold, dead-letter and commit one slice of a partition batch. False when the partition was fenced. */
  private async applySlice(
    p: number,
    owned: Owned,
    slice: KafkaMessage[],
    lastOffset: bigint,
    highWatermark: bigint,
  ): Promise<boolean> {
    const batchNo = this.failpoints.nextBatch();
    const start = performance.now();
    // Decoded lazily, as the fold consumes them: see foldBatch. `messages[i]` is the message of the fold's event i.
    const messages: KafkaMessage[] = [];
    const dead: DeadLetter[] = [];
    const nextOffset = String(lastOffset + 1n);
    const fx = foldBatch(
      owned.state,
      decodeLazily(
        slice,
        (message, detail) => dead.push({ message, reason: 'undecodable', detail }),
        (m) => messages.push(m),
      ),
    );
    for (const d of fx.deadLetters) dead.push({ message: messages[d.index]!, reason: 'invalid', detail: d.reason });
    await this.failpoints.hit('after-fold', batchNo, {
      partition: p,
      from: owned.offset || '0',
      nextOffset,
      events: messages.length,
    });
    let commitSeconds: number;
    try {
      // Dead letters before the commit: a crash in between re-sends them (at least once, never lost); each carries
      // its source topic/partition/offset, so duplicates are recognisable.
      if (dead.length > 0) await this.deadLetter(p, dead);
      const t = performance.now();
      const out = await this.store.commit(
        { partition: p, expectedOffset: owned.offset, expectedLineage: owned.lineage, nextOffset, ...fx },
        this.partitions,
      );
      commitSeconds = (performance.now() - t) / 1000;
      owned.offset = nextOffset;
      owned.lineage = out.lineage;
      this.metrics.snapshotVersion.set(out.version);
      this.metrics.resources.set(out.resourceCount);
      this.metrics.resourcesWritten.inc({ op: 'upsert' }, out.upserted);
      this.metrics.resourcesWritten.inc({ op: 'remove' }, out.removed);
      this.metrics.commitBytes.observe(out.bytes);
      if (out.upserted + out.removed > 0)
        this.log.debug(
          { partition: p, version: out.version, upserted: out.upserted, removed: out.removed, events: messages.length },
          'batch committed',
        );
    } catch (e) {
      this.owned.delete(p); // our in-memory fold includes effects Redis did not take: reload before going on
      if (e instanceof FencedError) {
        this.metrics.fenced.inc();
        this.log.warn({ partition: p, ...e.context }, e.message);
        return false;
      }
      throw e;
    }
    await this.failpoints.hit('after-commit', batchNo, { partition: p, nextOffset });
    this.metrics.commitSeconds.observe(commitSeconds);
    this.metrics.eventsApplied.inc(fx.applied);
    for (const [reason, n] of Object.entries(fx.ignored)) this.metrics.eventsIgnored.inc({ reason }, n);
    for (const r of fx.rejected) {
      this.metrics.rejected.inc();
      this.log.warn(
        { service: r.key, problems: r.problems },
        'ServiceEntry would be rejected by istiod; not published, previous version kept',
      );
    }
    for (const n of fx.notes) {
      this.metrics.mergeConflicts.inc();
      this.log.info(
        { service: n.key, notes: n.notes },
        'merge rule applied: sources disagree on a port, or report the same instance',
      );
    }
    for (const c of fx.splitChanges) {
      this.metrics.portSplits.inc({ to: c.to });
      this.log.info(
        { service: c.key, ports: c.ports },
        c.to === 'split'
          ? 'host split by port: some endpoints serve only some of its ports (one ServiceEntry per port, one with every port)'
          : 'host published as one ServiceEntry again (down to one port)',
      );
    }
    this.metrics.batchSize.observe(slice.length);
    this.metrics.batchSeconds.observe((performance.now() - start) / 1000);
    this.metrics.lag.set({ partition: String(p) }, Math.max(0, Number(highWatermark - BigInt(nextOffset))));
    this.metrics.committedOffset.set({ partition: String(p) }, Number(nextOffset));
    return true;
  }

  private async deadLetter(partition: number, dead: DeadLetter[]): Promise<void> {
    if (!this.dlq) return;
    dead.sort((a, b) => (BigInt(a.message.offset) < BigInt(b.message.offset) ? -1 : 1));
    for (const d of dead) {
      this.metrics.deadLettered.inc({ reason: d.reason });
      this.log.error(
        { partition, offset: d.message.offset, reason: d.reason, detail: d.detail },
        'poison event sent to dead-letter topic; continuing',
      );
    }
    await this.dlq.send({
      topic: this.cfg.kafka.deadLetterTopic,
      acks: -1,
      messages: dead.map((d) => ({
        key: d.message.key,
        value: d.message.value, // the original bytes, untouched, for inspection and re-drive
        headers: {
          'meshbridge-reason': d.reason,
          'meshbridge-detail': d.detail.slice(0, 8192),
          'meshbridge-topic': this.cfg.kafka.topic,
          'meshbridge-partition': String(partition),
          'meshbridge-offset': d.message.offset,
          'meshbridge-timestamp': d.message.timestamp,
        },
      })),
    });
  }

  /** Ready: consuming in the group, with an assignment received. */
  get ready(): boolean {
    return this.running && this.joined && !this.failed;
  }

  /** Offsets this replica has committed to Redis, per owned partition. */
  get positions(): Record<number, string> {
    return Object.fromEntries([...this.owned].map(([p, o]) => [p, o.offset]));
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.advisoryTimer);
    this.advisoryTimer = undefined;
    // Report what is pending while still in the group (kafkajs takes no commit once it has stopped; a batch still in
    // hand goes unreported, as Kafka's offsets are only advisory).
    await this.sendOffsets();
    await this.consumer?.disconnect();
    await this.dlq?.disconnect();
  }
}
