import crypto from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { waitFor } from './wait.ts';
import { decodeEvent } from '../schemas/event-codec.ts';
import type { RegistryEvent } from '../schemas/registry-event.ts';
import { evolve } from '../projection/evolve.ts';
import { emptyPartitionState, type PartitionState, type SourceContribution } from '../projection/fold-state.ts';

export interface TailedEvent {
  partition: number;
  offset: string;
  event: RegistryEvent;
  appendedAt: number;
}

/**
 * Reads a meshbridge topic from the beginning, as the projector would, and folds it with the projector's own pure
 * `evolve` — so a collector test sees exactly what a projector would hold (epoch fencing and resync markers
 * included) without running one. Also keeps every event with the broker's append time, for latency measurements.
 */
export class EventTail {
  readonly events: TailedEvent[] = [];
  readonly partitions = new Map<number, PartitionState>();
  private constructor(private readonly consumer: Consumer) {}

  /**
   * `observer`: for a benchmark that only reads the events afterwards — no fold, and fetches that wait for a batch
   * (broker-stamped append times do not depend on when the tail reads them), so the tail costs the broker and the
   * machine next to nothing while the system under test runs.
   */
  static async open(brokers: string[], topic: string, opts: { observer?: boolean } = {}): Promise<EventTail> {
    const kafka = new Kafka({ clientId: 'meshbridge-test-tail', brokers, logLevel: logLevel.NOTHING });
    // The roles create the topic once they reach Kafka, which may be after their process answers /healthz: wait
    // for it (with its partitions' leaders) instead of subscribing to a topic that is not there yet.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        async () => {
          if (!(await admin.listTopics()).includes(topic)) return undefined;
          const md = await admin.fetchTopicMetadata({ topics: [topic] });
          return md.topics[0]?.partitions.every((p) => p.leader >= 0) ? true : undefined;
        },
        { what: `topic ${topic}`, timeoutMs: 60_000, intervalMs: 100 },
      );
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({
      groupId: `tail-${crypto.randomBytes(4).toString('hex')}`,
      ...(opts.observer ? { maxWaitTimeInMs: 1_000, minBytes: 1024 * 1024 } : { maxWaitTimeInMs: 20 }),
    });
    const tail = new EventTail(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const event = decodeEvent(message.value!);
        tail.events.push({ partition, offset: message.offset, event, appendedAt: Number(message.timestamp) });
        if (opts.observer) return;
        let state = tail.partitions.get(partition);
        if (!state) {
          state = emptyPartitionState();
          tail.partitions.set(partition, state);
        }
        evolve(state, event);
      },
    });
    return tail;
  }

  /** What the projector would hold for `sourceId`: mesh key -> that source's contribution. */
  services(sourceId: string): Map<string, SourceContribution> {
    const out = new Map<string, SourceContribution>();
    for (const p of this.partitions.values()) {
      for (const [key, svc] of p.services) {
        const c = svc.sources[sourceId];
        if (c) out.set(key, c);
      }
    }
    return out;
  }

  /** Sorted "address:port" of every endpoint per mesh key for a source. */
  endpoints(sourceId: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [key, c] of this.services(sourceId)) {
      out[key] = c.instances.flatMap((i) => Object.values(i.ports).map((p) => `${i.address}:${p}`)).sort();
    }
    return out;
  }

  close(): Promise<void> {
    return this.consumer.disconnect();
  }
}
