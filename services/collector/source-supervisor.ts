import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import type { Config, SourceConfig } from '../../services/shared/config.ts';
import { FencedError } from '../../services/shared/errors.ts';
import { monotonicMs } from '../../services/shared/monotonic.ts';
import type { Logger } from '../../services/shared/log.ts';
import {
  decide,
  isValid,
  standbyTickOf,
  tickOf,
  withRenewal,
  type LeaseAnswer,
  type Leadership,
} from './leader-election.ts';
import { LeaseKeeper } from './lease-keeper.ts';
import type { CollectorMetrics } from './metrics.ts';
import { Publisher } from './publisher.ts';
import { leaseKeys } from '../../snapshot-store/keys.ts';
import { RedisLease } from './redis-lease.ts';
import type { RegistrySource, SourceFactory } from './source.ts';
import type { Problem } from './problems.ts';

interface Active {
  epoch: number;
  publisher: Publisher;
  source: RegistrySource;
}

/**
 * Runs one source on this replica only while it leads the source: every tick it renews (or tries to take) the Redis
 * lease and acts on the pure decision — start a publisher + watcher with the lease's epoch, restart them under a new
 * epoch, or stop them. A watchdog timer steps down at the lease's local deadline even if Redis calls hang, and the
 * publisher re-checks the deadline before every Kafka write.
 *
 * With leader election disabled the source runs at once with a wall-clock epoch (a single replica).
 */
export class SourceSupervisor {
  private leadershipState: Leadership | undefined;
  private active: Active | undefined;
  private transition: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly lease: RedisLease | undefined;
  /** Renews the held lease from another thread while this one is busy (lease-renewal-worker.ts). */
  private readonly keeper: LeaseKeeper | undefined;

  constructor(
    private readonly cfg: Config,
    private readonly src: SourceConfig,
    private readonly kafka: Kafka,
    redis: Redis | undefined,
    private readonly partitions: number,
    private readonly makeSource: SourceFactory,
    private readonly log: Logger,
    private readonly metrics: CollectorMetrics,
  ) {
    if (src.leaderElection.enabled) {
      if (!redis) throw new Error(`source ${src.id}: leader election needs Redis`);
      const keys = leaseKeys(cfg.redis.prefix, src.id);
      const leaseMs = src.leaderElection.leaseMs;
      this.lease = new RedisLease(redis, keys, cfg.collector.id, leaseMs);
      this.keeper = new LeaseKeeper(cfg, src.id, keys.lease, leaseMs, livenessOf(leaseMs));
    }
  }

  /**
   * This replica's leadership, extended by the background thread's latest renewal: after the main thread was held up
   * (a long read, a long garbage collection), the lease it still holds is not mistaken for a lapsed one.
   */
  private get leadership(): Leadership | undefined {
    this.leadershipState = withRenewal(this.leadershipState, this.keeper?.renewal(), this.src.leaderElection.leaseMs);
    return this.leadershipState;
  }
  private set leadership(l: Leadership | undefined) {
    this.leadershipState = l;
    this.keeper?.lead(l?.epoch);
  }

  get leading(): boolean {
    return this.active !== undefined;
  }
  get epoch(): number | undefined {
    return this.active?.epoch;
  }
  get connected(): boolean {
    return this.active?.source.connected ?? false;
  }
  get firstResyncDone(): boolean {
    return this.active?.source.firstResyncDone ?? false;
  }
  /** Current registry data problems of the source, while this replica leads it. */
  problems(): Problem[] {
    return this.active?.source.core.problems() ?? [];
  }

  async start(): Promise<void> {
    if (!this.lease) {
      await this.become(Date.now());
      return;
    }
    await this.tick();
  }

  private async tick(): Promise<void> {
    if (this.stopped || !this.lease) return;
    const leaseMs = this.src.leaderElection.leaseMs;
    // The lease's local validity runs on the monotonic clock; the wall clock is only the new epoch's floor.
    const sentAt = monotonicMs();
    let answer: LeaseAnswer | Error;
    try {
      answer = await withTimeout(this.lease.acquire(Date.now()), tickOf(leaseMs));
    } catch (e) {
      this.metrics.errors.inc({ source: this.src.id, stage: 'lease' });
      this.log.warn({ source: this.src.id, err: (e as Error).message }, 'leader lease: Redis call failed');
      answer = e as Error;
    }
    // The answer may be processed long after it came (this thread was busy): a renewal the background thread made
    // meanwhile, of the same epoch, dates the lease instead.
    const renewal = this.keeper?.renewal();
    const since =
      !(answer instanceof Error) && answer.held && renewal?.epoch === answer.epoch
        ? Math.max(sentAt, renewal.sentAt)
        : sentAt;
    const { next, action } = decide(this.leadership, answer, since, monotonicMs(), leaseMs);
    this.leadership = next;
    // Transitions run in their own queue, never awaited here: renewals must keep their rhythm while a new leader's
    // full resync (minutes for a big registry) or a slow shutdown is under way.
    if (action.kind === 'start') void this.queue(() => this.become(action.epoch));
    else if (action.kind === 'restart') {
      this.log.warn(
        { source: this.src.id, reason: action.reason },
        'leadership renewed under a new epoch; restarting the source',
      );
      void this.queue(async () => {
        await this.resign(action.reason);
        await this.become(action.epoch);
      });
    } else if (action.kind === 'stop') void this.queue(() => this.resign(action.reason));
    this.armWatchdog();
    if (!this.stopped)
      this.timer = setTimeout(() => void this.tick(), this.leadership ? tickOf(leaseMs) : standbyTickOf(leaseMs));
  }

  /** Steps down at the local lease deadline even if the renewal never comes back (a hung Redis call). */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    const l = this.leadership;
    if (!l) return;
    this.watchdog = setTimeout(
      () => {
        const now = this.leadership;
        if (now?.epoch !== l.epoch) return;
        if (isValid(now, monotonicMs())) {
          // Every renewal of this thread re-arms the watchdog, so it fires only when this thread renewed nothing for
          // a whole lease: only the background thread's renewals kept it.
          this.metrics.leaseKeptByBackground.inc({ source: this.src.id });
          this.log.warn(
            { source: this.src.id, epoch: l.epoch, lateMs: monotonicMs() - l.validUntil },
            'this thread renewed nothing for a whole lease; the background renewal kept it (event loop held up)',
          );
          this.armWatchdog(); // watch the background renewal's deadline
          return;
        }
        this.leadership = undefined;
        void this.queue(() => this.resign('lease deadline passed without renewal'));
      },
      Math.max(0, l.validUntil - monotonicMs()),
    );
  }

  private queue(fn: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(fn, fn).catch((e) => {
      this.metrics.errors.inc({ source: this.src.id, stage: 'leadership' });
      this.log.error({ source: this.src.id, err: (e as Error).message }, 'leadership transition failed');
    });
    return this.transition;
  }

  /** Throws when this replica may no longer publish for the source. */
  private fence(epoch: number): () => void {
    return () => {
      if (!this.lease) return;
      if (
        this.active?.epoch !== epoch ||
        !isValid(this.leadership, monotonicMs()) ||
        this.leadership?.epoch !== epoch
      ) {
        throw new FencedError(`source ${this.src.id}: epoch ${epoch} no longer leads`, { source: this.src.id, epoch });
      }
    };
  }

  private async become(epoch: number): Promise<void> {
    if (this.stopped) return;
    const publisher = new Publisher(
      this.cfg,
      this.kafka,
      this.src,
      this.cfg.collector.id,
      epoch,
      this.metrics,
      this.fence(epoch),
    );
    let source: RegistrySource;
    try {
      // The watcher first (it may reject its config, e.g. an unreadable tokenFile), so nothing is left connected.
      source = this.makeSource(this.src, publisher, this.log, this.metrics);
      await publisher.connect(this.partitions);
    } catch (e) {
      // Give the lease up: another replica may be able to start (it will, with a new epoch), or we retry next tick.
      this.leadership = undefined;
      await this.lease?.release(epoch).catch(() => undefined);
      this.metrics.errors.inc({ source: this.src.id, stage: 'start' });
      this.log.error(
        { source: this.src.id, epoch, err: (e as Error).message },
        'cannot start the source; lease released, retrying at the next tick',
      );
      return;
    }
    this.active = { epoch, publisher, source };
    this.metrics.leader.set({ source: this.src.id }, 1);
    this.metrics.leaderEpoch.set({ source: this.src.id }, epoch);
    this.metrics.leaderTransitions.inc({ source: this.src.id, to: 'leader' });
    this.log.info({ source: this.src.id, epoch, kind: this.src.kind }, 'leading source: watching and publishing');
    // A new leader starts with a full resync: it re-publishes every service under its epoch and its markers delete
    // whatever the previous leader published that no longer exists. Not awaited: stepping down must not wait for it.
    source.start().catch((e) => {
      this.metrics.errors.inc({ source: this.src.id, stage: 'start' });
      this.log.error(
        { source: this.src.id, epoch, err: (e as Error).message },
        'starting the source failed; the next leadership tick retries',
      );
      if (this.active?.source !== source) return;
      // Forget the leadership locally: the next tick finds the lease still ours and starts again (same epoch).
      this.leadership = undefined;
      void this.queue(() => this.resign(`start failed: ${(e as Error).message}`));
    });
  }

  private async resign(reason: string): Promise<void> {
    const a = this.active;
    if (!a) return;
    this.active = undefined;
    this.metrics.leader.set({ source: this.src.id }, 0);
    this.metrics.leaderTransitions.inc({ source: this.src.id, to: 'follower' });
    this.log.warn({ source: this.src.id, epoch: a.epoch, reason }, 'no longer leading source: stopped publishing');
    await a.source.stop();
    await a.publisher.disconnect().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    const epoch = this.active?.epoch;
    await this.queue(async () => {
      const a = this.active;
      if (!a) return;
      await a.source.stop();
      await a.publisher.disconnect().catch(() => undefined);
      this.active = undefined;
      this.metrics.leader.set({ source: this.src.id }, 0);
    });
    // Hand over at once instead of letting the standby wait out the lease.
    this.leadership = undefined;
    await this.keeper?.close();
    if (this.lease && epoch !== undefined) await this.lease.release(epoch).catch(() => undefined);
  }
}

/**
 * How long the background thread keeps renewing without a heartbeat from the main thread: long enough for the longest
 * pause a busy collector shows (seconds of garbage collection at 50,000 services), short enough that a wedged process
 * hands the source over in well under a minute.
 */
export const livenessOf = (leaseMs: number): number => Math.max(10_000, 5 * leaseMs);

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
