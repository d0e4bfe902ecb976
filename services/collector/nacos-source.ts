import type { NacosSourceConfig } from '../../services/shared/config.ts';
import { nameFilter } from '../../services/shared/full-match.ts';
import type { Logger } from '../../services/shared/log.ts';
import { Coalescer } from './coalescer.ts';
import type { CollectorMetrics } from './metrics.ts';
import { isAuthError, NacosAuth } from './nacos-auth.ts';
import { NacosConnection, type NacosMessage } from './nacos-grpc.ts';
import { nacosKey, normaliseNacosService, type NacosObservation } from './normalise-nacos.ts';
import type { EventSink } from './publisher.ts';
import { ResyncRunner, type ResyncPass } from './resync-runner.ts';
import { SourceCore } from './source-core.ts';
import { forEachLimit, type RegistrySource } from './source.ts';

interface Ref {
  nacosNamespace: string;
  group: string;
  service: string;
}
interface Latest {
  obs: NacosObservation;
  order: number;
}

const BACKOFF_MS = [200, 500, 1000, 2000, 5000];
const PAGE = 1000;

/**
 * Watches Nacos namespaces and groups over Nacos's gRPC API (services/collector/nacos-grpc.ts): one subscription per
 * service, whose pushes carry the service's complete instance list; the service list of each namespace/group is
 * read every `listIntervalMs` to find services that appeared or vanished (Nacos 3's fuzzy watch could push those,
 * but caps a pattern at 500 services by default, which real registries exceed — docs/collectors.md, "Nacos").
 * A full resync runs at start, after every reconnect (subscriptions belong to a connection and die with it) and
 * periodically.
 *
 * This adapter only reads and watches; what to publish is decided by the source's decider (`SourceCore`).
 *
 * Ordering: a service's instance list carries `lastRefTime`, the server's time of that view; it is the decider's
 * per-key order (a subscribe answer never overwrites a newer push). It is not the event's orderToken: it is a wall
 * clock, which a server restart on another machine may set back.
 */
export class NacosSource implements RegistrySource {
  /** One connection per Nacos namespace, as Nacos's own clients: a push does not name its namespace. */
  private readonly conns = new Map<string, NacosConnection>();
  private readonly auth: NacosAuth;
  readonly core: SourceCore;
  private readonly resyncer: ResyncRunner;
  private readonly coalescer: Coalescer<string>;
  private readonly latest = new Map<string, Latest>();
  /** Services subscribed on the current connection. */
  private readonly subscribed = new Map<string, Ref>();
  private readonly wanted: (name: string) => boolean;
  private readonly grpcTarget: string;
  private resyncTimer: NodeJS.Timeout | undefined;
  private listTimer: NodeJS.Timeout | undefined;
  private listing = false;
  private listAgain = false;
  private stopped = false;
  private failures = 0;
  connected = false;

  constructor(
    private readonly src: NacosSourceConfig,
    publisher: EventSink,
    private readonly log: Logger,
    private readonly metrics: CollectorMetrics,
  ) {
    const url = new URL(src.address);
    const httpPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    this.grpcTarget = `${url.hostname}:${src.grpcPort ?? httpPort + 1000}`;
    this.auth = new NacosAuth(src);
    this.wanted = nameFilter(src.excludeServices);
    this.resyncer = new ResyncRunner({
      sourceId: src.id,
      log,
      metrics,
      retryMs: 1000,
      isStopped: () => this.stopped,
      pass: () => this.resyncPass(),
    });
    this.core = new SourceCore(src, publisher, log, metrics, () => this.resyncer.generation, { emitOrderToken: false });
    this.coalescer = new Coalescer(src.coalesceMs, (key) => {
      const l = this.latest.get(key);
      if (l) void this.publish(key, l).catch((e) => this.publishFailed(key, e));
    });
  }

  get firstResyncDone(): boolean {
    return this.resyncer.firstDone;
  }

  async start(): Promise<void> {
    this.resyncTimer = setInterval(() => void this.resync('periodic'), this.src.resyncIntervalMs);
    this.listTimer = setInterval(() => void this.listPoll(), this.src.listIntervalMs);
    await this.resync('start');
  }

  private setConnected(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    this.metrics.sessionState.set({ source: this.src.id }, up ? 1 : 0);
    this.log.info(
      { source: this.src.id, grpc: this.grpcTarget, connected: up },
      up ? 'connected to Nacos' : 'Nacos connection lost',
    );
  }

  /** The namespace's open connection, or a new one (login first when auth is configured). */
  private async connection(nacosNamespace: string): Promise<NacosConnection> {
    const cur = this.conns.get(nacosNamespace);
    if (cur && !cur.isClosed) return cur;
    await this.auth.refresh();
    const conn = new NacosConnection({
      target: this.grpcTarget,
      token: () => this.auth.current(),
      tenant: nacosNamespace,
    });
    conn.on('request', (m: NacosMessage) => this.onPush(conn, nacosNamespace, m));
    conn.once('closed', (e: Error) => this.onClosed(conn, nacosNamespace, e));
    try {
      await conn.open();
    } catch (e) {
      conn.close(e as Error);
      throw e;
    }
    this.conns.set(nacosNamespace, conn);
    this.failures = 0;
    this.setConnected(true);
    if (this.src.fuzzyWatch) void this.fuzzyWatch(conn, nacosNamespace);
    return conn;
  }

  /**
   * Nacos 3's fuzzy watch: the server pushes NamingFuzzyWatchChangeNotifyRequest when a service matching a pattern
   * appears or goes, which here only triggers the next service-list look at once. The look stays the source of
   * truth (and the fallback): Nacos 2.x has no fuzzy watch, and Nacos 3 refuses a pattern matching more than
   * nacos.naming.fuzzy.watch.max.pattern.match.service.count services (500 by default).
   */
  private async fuzzyWatch(conn: NacosConnection, nacosNamespace: string): Promise<void> {
    for (const group of this.src.groups) {
      try {
        await conn.request('NamingFuzzyWatchRequest', {
          namespace: nacosNamespace,
          groupKeyPattern: `${nacosNamespace}>>${group}>>*`,
          watchType: 'WATCH',
          initializing: true,
          receivedGroupKeys: [],
        });
      } catch (e) {
        this.log.info(
          { source: this.src.id, nacosNamespace, group, err: (e as Error).message },
          'Nacos fuzzy watch not available for this group; new and removed services are found by the list look alone',
        );
      }
    }
  }

  private onClosed(conn: NacosConnection, nacosNamespace: string, e: Error): void {
    if (conn !== this.conns.get(nacosNamespace)) return;
    this.conns.delete(nacosNamespace);
    for (const [key, ref] of [...this.subscribed])
      if (ref.nacosNamespace === nacosNamespace) this.subscribed.delete(key);
    if (this.stopped) return;
    this.metrics.errors.inc({ source: this.src.id, stage: 'connection' });
    this.log.warn(
      { source: this.src.id, grpc: this.grpcTarget, err: e.message },
      'Nacos connection closed; reconnecting and resyncing',
    );
    this.setConnected(false);
    // Subscriptions died with the connection: a resync opens a new one and subscribes to every service again.
    void this.backoff().then(() => this.resync('reconnect'));
  }

  private async backoff(): Promise<void> {
    this.failures++;
    await new Promise((r) => setTimeout(r, BACKOFF_MS[Math.min(this.failures - 1, BACKOFF_MS.length - 1)]));
  }

  /** One request on the current connection; an auth failure logs in again once and retries. */
  private async request(
    nacosNamespace: string,
    type: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const conn = await this.connection(nacosNamespace);
    try {
      return await conn.request(type, body);
    } catch (e) {
      if (!isAuthError(e) || !this.auth.enabled) throw e;
      await this.auth.refresh(true);
      return conn.request(type, body);
    }
  }

  /** Every service name of one namespace and group (paged). */
  private async listServices(nacosNamespace: string, group: string): Promise<string[]> {
    const names: string[] = [];
    for (let page = 1; ; page++) {
      const res = await this.request(nacosNamespace, 'ServiceListRequest', {
        namespace: nacosNamespace,
        groupName: group,
        serviceName: '',
        pageNo: page,
        pageSize: PAGE,
        selector: '',
      });
      const got = Array.isArray(res.serviceNames)
        ? res.serviceNames.filter((s): s is string => typeof s === 'string')
        : [];
      names.push(...got);
      const count = typeof res.count === 'number' ? res.count : 0;
      if (got.length < PAGE || names.length >= count) break;
    }
    this.metrics.watchEvents.inc({ source: this.src.id, kind: 'service-list' });
    return names.filter((s) => this.wanted(s));
  }

  /** Subscribes to one service (pushes follow) and observes the instance list the subscription answers with. */
  private async subscribe(ref: Ref): Promise<void> {
    const key = nacosKey(ref.nacosNamespace, ref.group, ref.service);
    const res = await this.request(ref.nacosNamespace, 'SubscribeServiceRequest', {
      namespace: ref.nacosNamespace,
      groupName: ref.group,
      serviceName: ref.service,
      clusters: '',
      subscribe: true,
    });
    this.subscribed.set(key, ref);
    this.offer(key, ref, res.serviceInfo);
  }

  private async unsubscribe(key: string, ref: Ref): Promise<void> {
    this.subscribed.delete(key);
    this.latest.delete(key);
    await this.conns
      .get(ref.nacosNamespace)
      ?.request('SubscribeServiceRequest', {
        namespace: ref.nacosNamespace,
        groupName: ref.group,
        serviceName: ref.service,
        clusters: '',
        subscribe: false,
      })
      .catch(() => undefined);
  }

  private onPush(conn: NacosConnection, nacosNamespace: string, m: NacosMessage): void {
    if (conn !== this.conns.get(nacosNamespace)) return;
    if (m.type === 'NamingFuzzyWatchChangeNotifyRequest') {
      this.metrics.watchEvents.inc({ source: this.src.id, kind: 'fuzzy-watch' });
      this.listSoon();
      return;
    }
    if (m.type !== 'NotifySubscriberRequest') return;
    this.metrics.watchEvents.inc({ source: this.src.id, kind: 'push' });
    const b = m.body;
    const info = b.serviceInfo as Record<string, unknown> | undefined;
    const group = String(b.groupName ?? info?.groupName ?? '');
    // A push names the service either plainly or as Nacos's grouped name (group@@service).
    const rawName = String(b.serviceName ?? info?.name ?? '');
    const service = rawName.includes('@@') ? rawName.slice(rawName.indexOf('@@') + 2) : rawName;
    const key = nacosKey(nacosNamespace, group, service);
    const ref = this.subscribed.get(key);
    if (!ref) return; // unsubscribed meanwhile, or not ours
    this.offer(key, ref, info);
  }

  /** Keeps the newest view of a service (by the server's lastRefTime) and schedules its publication. */
  private offer(key: string, ref: Ref, serviceInfo: unknown): void {
    const t =
      typeof (serviceInfo as { lastRefTime?: unknown })?.lastRefTime === 'number'
        ? (serviceInfo as { lastRefTime: number }).lastRefTime
        : 0;
    const cur = this.latest.get(key);
    if (cur && t < cur.order) return;
    this.latest.set(key, { obs: { ...ref, serviceInfo }, order: t });
    this.coalescer.touch(key);
  }

  private publishFailed(key: string, e: unknown): void {
    this.metrics.errors.inc({ source: this.src.id, stage: 'publish' });
    this.log.error(
      { source: this.src.id, service: key, err: (e as Error).message },
      'publishing failed; retrying in 1 s',
    );
    setTimeout(() => {
      if (!this.stopped && this.latest.has(key)) this.coalescer.touch(key);
    }, 1000).unref();
  }

  private async publish(key: string, l: Latest): Promise<void> {
    const state = normaliseNacosService(this.src, l.obs);
    const info = l.obs.serviceInfo as Record<string, unknown> | undefined;
    const raw = {
      namespace: l.obs.nacosNamespace,
      group: l.obs.group,
      service: l.obs.service,
      lastRefTime: l.order,
      hosts: info?.hosts,
    };
    await this.core.observe({ type: 'present', key, state, order: l.order }, raw);
  }

  /** A look at the service lists now (a fuzzy-watch notification), or right after the one running. */
  private listSoon(): void {
    if (this.listing) this.listAgain = true;
    else void this.listPoll();
  }

  /**
   * Finds services that appeared (subscribe) or vanished (unsubscribe, absent) since the last look. Skipped while a
   * resync runs (it reads the lists itself) or the previous look has not finished.
   */
  private async listPoll(): Promise<void> {
    if (this.listing || this.stopped || !this.firstResyncDone || !this.connected) return;
    this.listing = true;
    try {
      for (const nacosNamespace of this.src.nacosNamespaces) {
        for (const group of this.src.groups) {
          const names = new Set(await this.listServices(nacosNamespace, group));
          const fresh = [...names].filter((s) => !this.subscribed.has(nacosKey(nacosNamespace, group, s)));
          await forEachLimit(fresh, 16, (service) => this.subscribe({ nacosNamespace, group, service }));
          for (const [key, ref] of [...this.subscribed]) {
            if (ref.nacosNamespace !== nacosNamespace || ref.group !== group || names.has(ref.service)) continue;
            await this.unsubscribe(key, ref);
            await this.core.observe({ type: 'absent', key });
          }
        }
      }
    } catch (e) {
      this.metrics.errors.inc({ source: this.src.id, stage: 'service-list' });
      this.log.warn(
        { source: this.src.id, err: (e as Error).message },
        'reading the Nacos service list failed; next look in listIntervalMs',
      );
    } finally {
      this.listing = false;
      if (this.listAgain) {
        this.listAgain = false;
        setImmediate(() => void this.listPoll());
      }
    }
  }

  resync(reason: string): Promise<void> {
    return this.resyncer.run(reason);
  }

  /** Full resync: every service subscribed again (its answer is its current state), then the end marker. */
  private async resyncPass(): Promise<ResyncPass> {
    while (this.listing) await new Promise((r) => setTimeout(r, 20));
    this.listing = true;
    try {
      await this.core.observe({ type: 'resync-started' });
      const refs: Ref[] = [];
      for (const nacosNamespace of this.src.nacosNamespaces) {
        for (const group of this.src.groups) {
          for (const service of await this.listServices(nacosNamespace, group))
            refs.push({ nacosNamespace, group, service });
        }
      }
      // Publish each answer directly (not via the coalescer), so the end marker knows every one of them.
      await forEachLimit(
        refs,
        32,
        async (ref) => {
          await this.subscribe(ref);
          const key = nacosKey(ref.nacosNamespace, ref.group, ref.service);
          const l = this.latest.get(key);
          if (l) await this.publish(key, l);
        },
        () => this.stopped,
      );
      await Promise.allSettled(
        this.coalescer.scheduled().map((key) => {
          const l = this.latest.get(key);
          return l ? this.publish(key, l) : undefined;
        }),
      );
      const events = await this.core.observe({ type: 'resync-finished' });
      for (const e of events) {
        if (e.type !== 'resync-ended') continue;
        for (const key of e.dropped) {
          const ref = this.subscribed.get(key);
          if (ref) await this.unsubscribe(key, ref);
        }
      }
      return { services: this.core.state.hosts.size, logFields: { nacosServices: refs.length, grpc: this.grpcTarget } };
    } catch (e) {
      if (this.conns.size < this.src.nacosNamespaces.length) this.setConnected(false);
      throw e;
    } finally {
      this.listing = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearInterval(this.listTimer);
    this.coalescer.stop();
    await this.resyncer.settle();
    for (const c of this.conns.values()) c.close();
  }
}
