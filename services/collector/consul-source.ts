import { ResyncRunner, type ResyncPass } from './resync-runner.ts';
import { nameFilter } from '../../services/shared/full-match.ts';
import type { ConsulSourceConfig } from '../../services/shared/config.ts';
import type { Logger } from '../../services/shared/log.ts';
import { Coalescer } from './coalescer.ts';
import { ConsulClient, type Blocking } from './consul-client.ts';
import type { CollectorMetrics } from './metrics.ts';
import { normaliseConsulService } from './normalise-consul.ts';
import type { EventSink } from './publisher.ts';
import { SourceCore } from './source-core.ts';
import { forEachLimit, type RegistrySource } from './source.ts';
import { backoff, backoffDelay, RETRY } from '../../services/shared/retry.ts';

interface Watch {
  index: number;
  stopped: boolean;
}
interface Latest {
  body: unknown;
  index: number;
}

/**
 * Watches a Consul datacenter with blocking queries: one on the service catalog (which services exist) and one per
 * service on its health (which instances, with their checks). Each service's complete state is published, coalesced
 * per service; a full resync runs at start, whenever the agent comes back after an error (an agent restart may have
 * lost or changed registrations), when Consul's index goes backwards (its state was reset) and periodically.
 *
 * This adapter only reads and watches; what to publish is decided by the source's decider (`SourceCore`).
 *
 * Ordering: a service's state is published only if its X-Consul-Index is not older than the one last observed (the
 * decider's per-key order), so a resync read can never overwrite a newer watch result. The index travels in the event's raw audit data; it is not
 * the event's orderToken because Consul's index restarts from 1 when a dev agent or a cluster's raft data is reset,
 * and the projector keeps a service's highest token forever — every later state would be dropped as "older".
 * Within one source the order is already guaranteed: one fenced publisher, one Kafka partition per service.
 */
export class ConsulSource implements RegistrySource {
  private readonly client: ConsulClient;
  private datacenter = '';
  private catalogIndex = 0;
  private readonly watches = new Map<string, Watch>();
  readonly core: SourceCore;
  private readonly latest = new Map<string, Latest>();
  private readonly coalescer: Coalescer<string>;
  private readonly wanted: (name: string) => boolean;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly resyncer: ResyncRunner;
  private stopped = false;
  private failures = 0;
  private limitReported = false;
  connected = false;

  constructor(
    private readonly src: ConsulSourceConfig,
    publisher: EventSink,
    private readonly log: Logger,
    private readonly metrics: CollectorMetrics,
  ) {
    this.client = new ConsulClient(src);
    this.resyncer = new ResyncRunner({
      sourceId: src.id,
      log,
      metrics,
      retryMs: 1000,
      isStopped: () => this.stopped,
      pass: () => this.resyncPass(),
      onFailure: () => this.setConnected(false),
    });
    this.core = new SourceCore(src, publisher, log, metrics, () => this.resyncer.generation, { emitOrderToken: false });
    this.wanted = nameFilter(src.excludeServices);
    this.coalescer = new Coalescer(src.coalesceMs, (service) => {
      const l = this.latest.get(service);
      if (l) void this.publish(service, l).catch((e) => this.publishFailed(service, e));
    });
  }

  get firstResyncDone(): boolean {
    return this.resyncer.firstDone;
  }

  async start(): Promise<void> {
    this.resyncTimer = setInterval(() => void this.resync('periodic'), this.src.resyncIntervalMs);
    await this.resync('start');
    void this.catalogLoop();
  }

  private setConnected(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    this.metrics.sessionState.set({ source: this.src.id }, up ? 1 : 0);
    this.log.info(
      { source: this.src.id, address: this.src.address, connected: up },
      up ? 'Consul agent reachable' : 'Consul agent unreachable',
    );
  }

  /** Called after a failed request: backoff, and remember that a resync is due once the agent answers again. */
  private async failed(stage: string, service: string | undefined, e: unknown): Promise<void> {
    if (this.stopped) return;
    this.metrics.errors.inc({ source: this.src.id, stage });
    if (isConnectionLimit(e)) {
      // Not an outage: the agent refuses this client's extra connections (one blocking query per watched service).
      if (!this.limitReported) {
        this.limitReported = true;
        this.log.error(
          { source: this.src.id, address: this.src.address, watches: this.watches.size, err: (e as Error).message },
          'Consul refuses more concurrent connections from this collector: raise limits.http_max_conns_per_client on that agent above the number of watched services plus 50 (docs/collectors.md); retrying',
        );
      }
    } else {
      // One line per outage at warn (the first failure), the rest at debug: thousands of watches fail together.
      this.log[this.connected ? 'warn' : 'debug'](
        { source: this.src.id, service, stage, err: (e as Error).message },
        'Consul request failed; retrying',
      );
    }
    this.setConnected(false);
    this.failures++;
    await backoff(RETRY.registryRequest, this.failures);
  }

  private recovered(): void {
    const wasDown = !this.connected && this.firstResyncDone;
    this.failures = 0;
    this.setConnected(true);
    // The agent may have restarted: registrations lost meanwhile are only noticed by a resync (its marker deletes them).
    if (wasDown) void this.resync('reconnect');
  }

  private async catalogLoop(): Promise<void> {
    while (!this.stopped) {
      let res: Blocking<unknown>;
      try {
        res = await this.client.catalogServices(this.catalogIndex);
      } catch (e) {
        await this.failed('catalog', undefined, e);
        continue;
      }
      if (this.stopped) return;
      this.recovered();
      this.metrics.watchEvents.inc({ source: this.src.id, kind: 'catalog' });
      if (res.index < this.catalogIndex) {
        // Consul's state was reset (dev agent restart, snapshot restore): indexes restart, so forget ours and resync.
        this.log.warn(
          { source: this.src.id, was: this.catalogIndex, now: res.index },
          'Consul index went backwards; resyncing',
        );
        this.catalogIndex = 0;
        void this.core.observe({ type: 'order-reset' });
        void this.resync('index-reset');
        continue;
      }
      // Consul's guidance: an index of 0 or unchanged-but-returned must not spin.
      this.catalogIndex = Math.max(res.index, 1);
      this.applyCatalog(res.body);
    }
  }

  /** The catalog changed: watch new services, publish removal of vanished ones. */
  private applyCatalog(body: unknown): void {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.metrics.rejectedData.inc({
        source: this.src.id,
        kind: this.src.kind,
        field: 'catalog',
        reason: 'malformed',
      });
      this.log.warn(
        { source: this.src.id, field: 'catalog', value: JSON.stringify(body).slice(0, 256) },
        'Consul catalog response is not an object; ignored',
      );
      return;
    }
    const services = new Set(Object.keys(body).filter((s) => this.wanted(s)));
    for (const s of services) if (!this.watches.has(s)) this.watch(s);
    for (const s of [...this.watches.keys()]) {
      if (services.has(s)) continue;
      this.unwatch(s);
      void this.core.observe({ type: 'absent', key: s }).catch((e) => this.publishFailed(s, e));
    }
  }

  private watch(service: string): void {
    const w: Watch = { index: 0, stopped: false };
    this.watches.set(service, w);
    void (async () => {
      while (!this.stopped && !w.stopped) {
        let res: Blocking<unknown>;
        try {
          res = await this.client.healthService(service, w.index);
        } catch (e) {
          if (w.stopped) return;
          await this.failed('health', service, e);
          continue;
        }
        if (this.stopped || w.stopped) return;
        this.recovered();
        this.metrics.watchEvents.inc({ source: this.src.id, kind: 'health' });
        w.index = res.index < w.index ? 0 : Math.max(res.index, 1);
        this.offer(service, { body: res.body, index: res.index });
      }
    })();
  }

  private unwatch(service: string): void {
    const w = this.watches.get(service);
    if (w) w.stopped = true;
    this.watches.delete(service);
    this.latest.delete(service);
  }

  /** Keeps the newest observation of a service and publishes it (leading edge, then coalesced per window). */
  private offer(service: string, obs: Latest): void {
    const cur = this.latest.get(service);
    if (!cur || obs.index >= cur.index) this.latest.set(service, obs);
    this.coalescer.touch(service);
  }

  private publishFailed(service: string, e: unknown): void {
    this.metrics.errors.inc({ source: this.src.id, stage: 'publish' });
    this.log.error({ source: this.src.id, service, err: (e as Error).message }, 'publishing failed; retrying in 1 s');
    // Kafka was unavailable beyond the producer's own retries: offer the latest observation again.
    setTimeout(
      () => {
        if (!this.stopped && this.latest.has(service)) this.coalescer.touch(service);
      },
      backoffDelay(RETRY.republish, 1),
    ).unref();
  }

  /** Normalises one service's observation and hands it to the decider (which ignores it if a newer one was seen). */
  private async publish(service: string, obs: Latest): Promise<void> {
    const state = normaliseConsulService(this.src, { service, datacenter: this.datacenter, entries: obs.body });
    await this.core.observe(
      { type: 'present', key: service, state, order: obs.index },
      { service, datacenter: this.datacenter, consulIndex: obs.index, entries: obs.body },
    );
  }

  /** Full resync: every service's current health, published, then the end marker (deletes what vanished). */
  resync(reason: string): Promise<void> {
    return this.resyncer.run(reason);
  }

  private async resyncPass(): Promise<ResyncPass> {
    await this.core.observe({ type: 'resync-started' });
    if (!this.datacenter) this.datacenter = await this.client.datacenter();
    const catalog = await this.client.catalogServices();
    this.recovered();
    if (catalog.index < this.catalogIndex) await this.core.observe({ type: 'order-reset' });
    const body = catalog.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Error('Consul catalog response is not an object');
    const services = Object.keys(body)
      .filter((s) => this.wanted(s))
      .sort();
    await forEachLimit(
      services,
      16,
      async (service) => {
        const res = await this.client.healthService(service);
        await this.publish(service, { body: res.body, index: res.index });
      },
      () => this.stopped,
    );
    // Observations a watch delivered and the coalescer still holds: publish them first, so the marker knows them.
    await Promise.allSettled(
      this.coalescer.scheduled().map((service) => {
        const l = this.latest.get(service);
        return l ? this.publish(service, l) : undefined;
      }),
    );
    const events = await this.core.observe({ type: 'resync-finished' });
    for (const s of services) if (!this.watches.has(s)) this.watch(s);
    // Only what the decider dropped (not observed since the pass began) loses its watch: a service registered while
    // the pass ran is watched, observed and kept.
    for (const e of events) if (e.type === 'resync-ended') for (const s of e.dropped) this.unwatch(s);
    return { services: this.core.state.hosts.size, logFields: { datacenter: this.datacenter } };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.coalescer.stop();
    for (const w of this.watches.values()) w.stopped = true;
    this.client.close();
    await this.resyncer.settle();
  }
}

/** Consul's answer to a client over limits.http_max_conns_per_client: 429 "too many concurrent connections". */
function isConnectionLimit(e: unknown): boolean {
  const err = e as { statusCode?: number; message?: string };
  return err?.statusCode === 429 || /too many concurrent connections/i.test(err?.message ?? '');
}
