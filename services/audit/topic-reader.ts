import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';

/** One Kafka message as the audit tools need it. */
export interface TopicMessage {
  offset: bigint;
  /** Kafka record timestamp (the producer's CreateTime unless the topic uses LogAppendTime), epoch ms. */
  timestamp: number;
  value: Buffer | null;
}

/** What a partition holds: [low, high) — low > 0 once retention deleted old events. */
export interface PartitionRange {
  partition: number;
  low: bigint;
  high: bigint;
}

export async function topicRanges(kafka: Kafka, topic: string): Promise<PartitionRange[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    if (offsets.length === 0) throw new Error(`topic ${topic} does not exist or has no partitions`);
    return offsets
      .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

/** Returned by a batch handler: 'stop' once the partition needs nothing more (its last cut was reached). */
export type PartitionVerdict = 'more' | 'stop';

export interface ReadOptions {
  topic: string;
  /** Read each partition from its beginning up to `end` (exclusive); partitions with end <= low are skipped. */
  ends: Map<number, bigint>;
  onBatch(partition: number, messages: TopicMessage[]): PartitionVerdict | Promise<PartitionVerdict>;
}

/**
 * Reads every partition of the topic from the beginning, in offset order per partition, up to a per-partition end.
 * kafkajs has no manual assignment, so this joins a throw-away consumer group of one member (never committing
 * offsets) and deletes it afterwards; the projector's own group is never touched.
 */
export async function readTopic(kafka: Kafka, opts: ReadOptions): Promise<void> {
  const pending = new Set([...opts.ends].filter(([, end]) => end > 0n).map(([p]) => p));
  if (pending.size === 0) return;
  const groupId = `meshbridge-audit-${crypto.randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    // Small fetches: kafkajs inflates a whole response into message objects before handing any of it over, and
    // registry events compress ~12:1, so a 64 MiB fetch was most of a 1M-event topic in memory at once (4 GiB of
    // heap, then GC thrash). 1 MiB of gzip per partition is ~8,000 events; the fold runs in worker threads while the
    // next fetch is on its way, so small fetches cost no throughput.
    maxBytes: 6 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
    minBytes: 1,
    maxWaitTimeInMs: 200,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
  });
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const crashed = consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, heartbeat, isRunning, resolveOffset }) => {
        const p = batch.partition;
        if (!pending.has(p) || !isRunning()) return;
        const end = opts.ends.get(p)!;
        const messages: TopicMessage[] = [];
        let reachedEnd = false;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset >= end) {
            reachedEnd = true;
            break;
          }
          messages.push({ offset, timestamp: Number(m.timestamp), value: m.value });
        }
        if (messages.length > 0 && BigInt(messages[messages.length - 1]!.offset) + 1n >= end) reachedEnd = true;
        const verdict = messages.length > 0 ? await opts.onBatch(p, messages) : 'more';
        // Without committing anything, kafkajs still fetches from the last *resolved* offset: an unresolved batch is
        // fetched again, forever (a topic larger than one fetch was re-read in a loop and never finished).
        resolveOffset(batch.lastOffset());
        if (verdict === 'stop' || reachedEnd) {
          pending.delete(p);
          consumer.pause([{ topic: opts.topic, partitions: [p] }]);
          if (pending.size === 0) finish();
        }
        await heartbeat();
      },
    });
    await done;
  } finally {
    crashed();
    await consumer.disconnect().catch(() => undefined);
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect().catch(() => undefined));
  }
}
