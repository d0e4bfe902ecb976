import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker, siblingModule } from '../../services/shared/module-worker.ts';
import { mergeCutResults, mergeReplayStats, type Cut, type CutResult, type ReplayStats } from './cut-replay.ts';
import { packMessages, unpackBuffers, type PackedBuffers } from './replay-wire.ts';
import type { PartitionVerdict, TopicMessage } from './topic-reader.ts';
import type { ToWorker } from './replay-worker.ts';

/**
 * Events a worker may have queued before the reader waits for it. This is the replay's memory bound: kafkajs fetches
 * again only when the batch handler returns, so a slow fold holds the reader back instead of piling up fetches.
 */
const MAX_QUEUED_EVENTS = 40_000;

type Share = { results: CutResult[]; stats: ReplayStats[] };
interface Slot {
  worker: Worker;
  queued: number;
  wake: (() => void)[];
  finished?: { resolve: (r: Share) => void; reject: (e: Error) => void };
}

type FromWorker =
  | { type: 'fed'; partition: number; count: number; verdict: PartitionVerdict }
  | {
      type: 'finished';
      results: (Omit<CutResult, 'resources'> & { resources: PackedBuffers })[];
      stats: ReplayStats[];
    };

export const defaultReplayWorkers = (partitions: number) =>
  Math.max(1, Math.min(os.availableParallelism(), partitions));

/**
 * Decodes and folds a replay in worker threads, partitions spread over them (a mesh service lives in exactly one
 * partition, so partitions fold independently): the reading thread only fetches from Kafka and hands messages on.
 */
export class ReplayPool {
  private readonly slots: Slot[] = [];
  private readonly owner = new Map<number, Slot>();
  private readonly stopped = new Set<number>();
  private failure: Error | undefined;
  private closing = false;

  /** `onFolded(n)`: n more events were decoded and folded (progress is reported from here, not from reading). */
  constructor(
    cuts: Cut[],
    partitions: number[],
    workers = defaultReplayWorkers(partitions.length),
    private readonly onFolded: (events: number) => void = () => {},
  ) {
    const n = Math.max(1, Math.min(workers, partitions.length));
    for (let k = 0; k < n; k++) {
      const mine = partitions.filter((_, i) => i % n === k);
      const worker = startModuleWorker(siblingModule(import.meta.url, 'replay-worker'), {
        workerData: { cuts, partitions: mine },
      });
      const slot: Slot = { worker, queued: 0, wake: [] };
      worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
      worker.on('error', (e) => this.fail(e));
      worker.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`replay worker exited unexpectedly (code ${code})`));
      });
      for (const p of mine) this.owner.set(p, slot);
      this.slots.push(slot);
    }
  }

  get workers(): number {
    return this.slots.length;
  }

  /** Hands one partition's next messages to its worker; resolves once there is room for more. */
  async feed(partition: number, messages: TopicMessage[]): Promise<PartitionVerdict> {
    this.check();
    if (this.stopped.has(partition)) return 'stop';
    const slot = this.owner.get(partition);
    if (!slot) throw new Error(`partition ${partition} was not announced to the replay`);
    const { packed, transfer } = packMessages(messages);
    slot.worker.postMessage({ type: 'feed', partition, batch: packed } satisfies ToWorker, transfer);
    slot.queued += messages.length;
    while (slot.queued > MAX_QUEUED_EVENTS && !this.failure)
      await new Promise<void>((resolve) => slot.wake.push(resolve));
    this.check();
    return this.stopped.has(partition) ? 'stop' : 'more';
  }

  /** Waits for every worker to fold what it was given, and merges their results (one per cut). */
  async finish(ends: Map<number, bigint>): Promise<{ results: CutResult[]; stats: ReplayStats[] }> {
    this.check();
    const shares = await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<Share>((resolve, reject) => {
            slot.finished = { resolve, reject };
            slot.worker.postMessage({ type: 'finish', ends } satisfies ToWorker);
          }),
      ),
    );
    return {
      results: mergeCutResults(shares.map((s) => s.results)),
      stats: mergeReplayStats(shares.map((s) => s.stats)),
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (m.type === 'fed') {
      slot.queued -= m.count;
      this.onFolded(m.count);
      if (m.verdict === 'stop') this.stopped.add(m.partition);
      if (slot.queued <= MAX_QUEUED_EVENTS) this.wakeAll(slot);
      return;
    }
    slot.finished?.resolve({
      results: m.results.map((r) => ({ ...r, resources: unpackBuffers(r.resources) })),
      stats: m.stats,
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const slot of this.slots) {
      this.wakeAll(slot);
      slot.finished?.reject(this.failure);
    }
  }

  private wakeAll(slot: Slot): void {
    for (const w of slot.wake.splice(0)) w();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
