import type { DataIssue } from '../../schemas/registry-event.ts';
import { nameFilter } from '../../services/shared/full-match.ts';
import type { EurekaSourceConfig } from '../../services/shared/config.ts';
import type { Logger } from '../../services/shared/log.ts';
import { appsFromDocument, reconcileHashCode, refreshWithDelta, type EurekaApps } from './eureka-apps.ts';
import { EurekaClient } from './eureka-client.ts';
import type { CollectorMetrics } from './metrics.ts';
import { normaliseEurekaApp } from './normalise-eureka.ts';
import type { EventSink } from './publisher.ts';
import { ResyncRunner, type ResyncPass } from './resync-runner.ts';
import { SourceCore } from './source-core.ts';
import { forEachLimit, type RegistrySource } from './source.ts';

/**
 * Follows a Eureka cluster the way Eureka's own clients do: a full `GET /apps` at start (and on every resync), then
 * `GET /apps/delta` every refreshIntervalMs, applied to a local copy of the registry and checked against the server's
 * apps hash code (services/collector/eureka-apps.ts). A mismatch, a delta read from another peer than the copy, or
 * an unreadable delta is answered by a full fetch — which is a resync, ending with a marker that deletes apps gone
 * meanwhile. Changed apps are published as complete states; this adapter only reads, the decider decides.
 *
 * Everything that reads or replaces the copy runs one at a time (`serial`), so a delta can never be applied to a copy
 * a concurrent full fetch is replacing. Peers are tried in order; the client sticks to one while it answers.
 */
export class EurekaSource implements RegistrySource {
  private readonly client: EurekaClient;
  readonly core: SourceCore;
  private readonly resyncer: ResyncRunner;
  private readonly wanted: (name: string) => boolean;
  private apps: EurekaApps = new Map();
  /** Why the copy must be replaced by a full fetch before the next delta (undefined: the copy is good). */
  private fullDue: string | undefined = 'start';
  /** Apps whose last publish Kafka did not confirm: published again on the next refresh. */
  private readonly unpublished = new Set<string>();
  private lock: Promise<unknown> = Promise.resolve();
  private resyncTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  connected = false;

  constructor(
    private readonly src: EurekaSourceConfig,
    publisher: EventSink,
    private readonly log: Logger,
    private readonly metrics: CollectorMetrics,
  ) {
    this.client = new EurekaClient(src, (from, to, err) => {
      this.metrics.errors.inc({ source: src.id, stage: 'failover' });
      this.log.warn({ source: src.id, from, to, err }, 'Eureka peer failed; using the next one (full fetch from it)');
      this.fullDue = 'peer-failover';
    });
    this.resyncer = new ResyncRunner({
      sourceId: src.id,
      log,
      metrics,
      retryMs: Math.min(src.refreshIntervalMs, 5000),
      isStopped: () => this.stopped,
      pass: () => this.serial(() => this.fullFetch()),
      onFailure: () => this.setConnected(false),
    });
    this.core = new SourceCore(src, publisher, log, metrics, () => this.resyncer.generation, { emitOrderToken: false });
    this.wanted = nameFilter(src.excludeApps);
  }

  get firstResyncDone(): boolean {
    return this.resyncer.firstDone;
  }

  async start(): Promise<void> {
    this.resyncTimer = setInterval(() => void this.resync('periodic'), this.src.resyncIntervalMs);
    await this.resync('start');
    this.loop = this.refreshLoop();
  }

  resync(reason: string): Promise<void> {
    return this.resyncer.run(reason);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private setConnected(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    this.metrics.sessionState.set({ source: this.src.id }, up ? 1 : 0);
    this.log.info(
      { source: this.src.id, peer: this.client.peer, connected: up },
      up ? 'Eureka reachable' : 'no Eureka peer reachable',
    );
  }

  private async refreshLoop(): Promise<void> {
    let last = performance.now();
    while (!this.stopped) {
      // Fixed rate, start to start: a slow read or publish does not stretch the interval a change waits for.
      const delay = Math.max(0, last + this.src.refreshIntervalMs - performance.now());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      if (this.stopped) return;
      last = performance.now();
      if (this.fullDue !== undefined) {
        await this.resync(this.fullDue);
        continue;
      }
      try {
        await this.serial(() => this.refresh());
      } catch (e) {
        if (this.stopped) return;
        this.metrics.errors.inc({ source: this.src.id, stage: 'delta' });
        this.log[this.connected ? 'warn' : 'debug'](
          { source: this.src.id, err: (e as Error).message },
          'reading the Eureka delta failed; full fetch next',
        );
        this.setConnected(false);
        this.fullDue = 'reconnect';
      }
    }
  }

  /** One delta: applied and published if the hash code agrees, else a full fetch is due. */
  private async refresh(): Promise<void> {
    if (this.fullDue !== undefined) return;
    const peer = this.client.peer;
    const doc = await this.client.get('/apps/delta');
    this.setConnected(true);
    this.metrics.watchEvents.inc({ source: this.src.id, kind: 'delta' });
    if (this.client.peer !== peer) return; // failed over: the copy is another peer's; fullDue is set
    this.reportDocumentIssues('delta', doc.issues);
    const step = refreshWithDelta(this.apps, doc);
    if (step.type === 'full-fetch') {
      this.log.info(
        { source: this.src.id, peer, reason: step.reason, expected: step.expected, got: step.got },
        'Eureka apps hash code differs after the delta; full fetch',
      );
      this.fullDue = step.reason;
      return;
    }
    this.apps = step.apps;
    const todo = new Set([...step.changed, ...this.unpublished]);
    this.unpublished.clear();
    await forEachLimit(
      [...todo].filter((a) => this.wanted(a)),
      64,
      (app) => this.publishApp(app, peer),
    );
  }

  /** Full fetch: the copy replaced by the registry as the peer has it now, every app published, then the marker. */
  private async fullFetch(): Promise<ResyncPass> {
    await this.core.observe({ type: 'resync-started' });
    const doc = await this.client.get('/apps');
    const peer = this.client.peer;
    this.setConnected(true);
    this.reportDocumentIssues('apps', doc.issues);
    const apps = appsFromDocument(doc);
    const hash = reconcileHashCode(apps);
    if (doc.hashcode !== undefined && doc.hashcode !== hash) {
      // Only when this collector could not read some instances: every delta will mismatch too (a full fetch each time).
      this.documentProblem('apps', `apps hash code ${doc.hashcode} but ${hash} over the instances that could be read`);
    }
    this.apps = apps;
    this.fullDue = undefined;
    this.unpublished.clear();
    const names = [...apps.keys()].filter((a) => this.wanted(a)).sort();
    await forEachLimit(
      names,
      64,
      (app) => this.publishApp(app, peer),
      () => this.stopped,
    );
    await this.core.observe({ type: 'resync-finished' });
    let instances = 0;
    for (const m of apps.values()) instances += m.size;
    return { services: this.core.state.hosts.size, logFields: { peer, apps: apps.size, instances, hashcode: hash } };
  }

  private async publishApp(app: string, peer: string): Promise<void> {
    const m = this.apps.get(app);
    try {
      if (!m) {
        await this.core.observe({ type: 'absent', key: app });
        return;
      }
      const instances = [...m.values()];
      const state = normaliseEurekaApp(this.src, app, instances);
      await this.core.observe({ type: 'present', key: app, state, order: null }, { app, peer, instances });
    } catch (e) {
      this.unpublished.add(app);
      this.metrics.errors.inc({ source: this.src.id, stage: 'publish' });
      this.log.error(
        { source: this.src.id, app, err: (e as Error).message },
        'publishing failed; retrying with the next refresh',
      );
    }
  }

  /** Parts of a response that belong to no app (or a whole unreadable response): counted and logged. */
  private reportDocumentIssues(what: string, issues: DataIssue[]): void {
    for (const i of issues) {
      this.metrics.rejectedData.inc({ source: this.src.id, kind: this.src.kind, field: what, reason: 'malformed' });
      this.log.warn(
        { source: this.src.id, response: what, field: i.field, value: i.value, reason: i.reason, action: i.action },
        'Eureka response part not usable; left out',
      );
    }
  }

  private documentProblem(what: string, reason: string): void {
    this.metrics.rejectedData.inc({ source: this.src.id, kind: this.src.kind, field: what, reason: 'malformed' });
    this.log.warn(
      { source: this.src.id, response: what, peer: this.client.peer, reason },
      'Eureka response not usable as-is',
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.wake?.();
    this.client.close();
    await this.resyncer.settle();
    await this.loop;
    await this.lock;
  }
}
