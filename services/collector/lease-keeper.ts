import type { Worker } from 'node:worker_threads';
import type { Config } from '../../services/shared/config.ts';
import { siblingModule, startModuleWorker } from '../../services/shared/module-worker.ts';
import { monotonicMs } from '../../services/shared/monotonic.ts';

/** Slots of the memory shared with the renewal thread (BigInt64, read and written with Atomics). */
export const SLOT = { heartbeat: 0, leading: 1, renewedEpoch: 2, renewedSentAt: 3 } as const;

export interface RenewalWorkerData {
  shared: SharedArrayBuffer;
  sourceId: string;
  leaseKey: string;
  collectorId: string;
  leaseMs: number;
  livenessMs: number;
}

/** The latest renewal the background thread made: of which epoch, sent when (monotonicMs(): the same clock in both threads). */
export interface Renewal {
  epoch: number;
  sentAt: number;
}

/**
 * The main thread's side of lease-renewal-worker.ts: says which epoch it leads (0: none), beats a heartbeat the
 * worker checks before each renewal, and reads the worker's latest renewal. Reading is a few atomic loads, cheap
 * enough for every Kafka batch's fence.
 */
export class LeaseKeeper {
  private readonly shared = new BigInt64Array(new SharedArrayBuffer(4 * 8));
  private readonly worker: Worker;
  private readonly beat: NodeJS.Timeout;

  constructor(
    cfg: Config,
    sourceId: string,
    leaseKey: string,
    leaseMs: number,
    livenessMs: number,
    /** The thread failed (the main thread's own renewals go on; only the protection against its pauses is lost). */
    onError: (e: Error) => void = () => undefined,
  ) {
    this.heartbeat();
    const data: RenewalWorkerData & { cfg: Config } = {
      shared: this.shared.buffer as SharedArrayBuffer,
      sourceId,
      leaseKey,
      collectorId: cfg.collector.id,
      leaseMs,
      livenessMs,
      cfg,
    };
    this.worker = startModuleWorker(siblingModule(import.meta.url, 'lease-renewal-worker'), { workerData: data });
    this.worker.on('error', onError);
    this.worker.unref();
    // The worker renews only while this beats: a main thread that stopped running loses the lease in time.
    this.beat = setInterval(() => this.heartbeat(), Math.max(100, Math.floor(livenessMs / 4)));
    this.beat.unref();
  }

  heartbeat(): void {
    Atomics.store(this.shared, SLOT.heartbeat, BigInt(monotonicMs()));
  }

  /** The epoch this replica leads, or undefined: the worker renews exactly that one. */
  lead(epoch: number | undefined): void {
    Atomics.store(this.shared, SLOT.leading, BigInt(epoch ?? 0));
  }

  renewal(): Renewal | undefined {
    const epoch = Atomics.load(this.shared, SLOT.renewedEpoch);
    const sentAt = Atomics.load(this.shared, SLOT.renewedSentAt);
    if (epoch === 0n || Atomics.load(this.shared, SLOT.renewedEpoch) !== epoch) return undefined;
    return { epoch: Number(epoch), sentAt: Number(sentAt) };
  }

  async close(): Promise<void> {
    clearInterval(this.beat);
    this.lead(undefined);
    this.worker.postMessage('stop');
    await this.worker.terminate();
  }
}
