import { ResyncRunner, type ResyncPass } from './resync-runner.ts';
import type { ZooKeeperDubboSourceConfig as SourceConfig } from '../../services/shared/config.ts';
import type { Logger } from '../../services/shared/log.ts';
import { normaliseDubboService, providerParamsRead } from './normalise-dubbo.ts';
import { composeInterfaceService, normaliseDubboApp, parseMapping } from './normalise-dubbo-app.ts';
import type { ServiceState } from './service-state.ts';
import type { EventSink } from './publisher.ts';
import { SourceCore } from './source-core.ts';
import { holdsReadAt } from './decider.ts';
import type { CollectorMetrics } from './metrics.ts';
import { Coalescer } from './coalescer.ts';
import { pacer } from './pacer.ts';
import { ReadLimiter } from './read-limiter.ts';
import { FencedError } from '../../services/shared/errors.ts';
import { forEachLimit, PassStopped, type RegistrySource } from './source.ts';
import {
  closeClient,
  connect,
  getChildren,
  getData,
  statOf,
  watchChildrenOrCreation,
  zxid,
  type ZkClient,
} from './zk-client.ts';
import { backoff, backoffDelay, RETRY } from '../../services/shared/retry.ts';
import { ProviderParseCache } from './provider-parse-cache.ts';

/**
 * Watches a Dubbo registry in ZooKeeper and publishes each service's complete state:
 * - interface mode: <root>/<interface>/providers/<url> (Dubbo 2.x and Dubbo 3's interface-level registry), one mesh
 *   service per interface;
 * - application mode: <servicesRoot>/<app>/<ip:port> with Curator JSON instance data (Dubbo 3 application-level
 *   discovery), one mesh service per application.
 * Watches drive updates, coalesced per service; a full resync runs at start, after every reconnect (watches may have
 * been lost), after session expiry (with a new session) and periodically.
 *
 * This adapter only reads and watches: every observation goes to the source's decider (`SourceCore`), which decides
 * what to publish, including the resync's end marker.
 */
const INSTANCE_NAME = /^[^/]+:\d+$/;
/** Coalescer/known-map key prefix of interface services derived from the mapping (application mode). */
const MAP = 'mapping:';

export class ZooKeeperDubboSource implements RegistrySource {
  private client: ZkClient | undefined;
  private readonly coalescer: Coalescer<string>;
  /** Watch-driven reads, bounded (read-limiter.ts: an unbounded burst starves the leader lease). */
  private readonly limiter = new ReadLimiter<string>(64, (name) => this.readNow(name));
  readonly core: SourceCore;
  /** Reads started by watches and not finished yet, by service name. */
  /** Parsed provider URLs (interface mode), keeping only the parameters normalisation reads. */
  private readonly parsed: ProviderParseCache;
  private readonly inflight = new Map<string, Promise<void>>();
  /** Application mode with a mapping: last state per application, and interface -> applications. */
  private readonly appStates = new Map<string, ServiceState>();
  private readonly mapping = new Map<string, string[]>();
  private inResync = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private sessionWatchdog: NodeJS.Timeout | undefined;
  private readonly resyncer: ResyncRunner;
  /** One watcher function per service: node-zookeeper-client de-duplicates identical watchers per path. */
  private readonly watchers = new Map<string, () => void>();
  private stopped = false;
  connected = false;

  constructor(
    private readonly src: SourceConfig,
    publisher: EventSink,
    private readonly log: Logger,
    private readonly metrics: CollectorMetrics,
  ) {
    this.coalescer = new Coalescer(src.coalesceMs, (name) => this.limiter.submit(name));
    this.parsed = new ProviderParseCache(providerParamsRead(src));
    this.resyncer = new ResyncRunner({
      sourceId: src.id,
      log,
      metrics,
      retryMs: 2000,
      isStopped: () => this.stopped,
      pass: (reason) => this.resyncPass(reason),
    });
    this.core = new SourceCore(src, publisher, log, metrics, () => this.resyncer.generation, { emitOrderToken: true });
  }

  get firstResyncDone(): boolean {
    return this.resyncer.firstDone;
  }

  async start(): Promise<void> {
    await this.open();
    this.resyncTimer = setInterval(() => void this.resync('periodic'), this.src.resyncIntervalMs);
    await this.resync('start');
  }

  private async open(): Promise<void> {
    const client = await connect(this.src.connect, this.src.sessionTimeoutMs);
    this.client = client;
    this.connected = true;
    this.metrics.sessionState.set({ source: this.src.id }, 1);
    this.log.info(
      { source: this.src.id, connect: this.src.connect, root: this.rootPath(), mode: this.src.mode },
      'connected to ZooKeeper',
    );
    client.on('state', (state) => {
      if (this.stopped || client !== this.client) return;
      const name = String(state);
      this.log.info({ source: this.src.id, state: name }, 'ZooKeeper session state');
      if (name.startsWith('DISCONNECTED')) {
        this.connected = false;
        this.metrics.sessionState.set({ source: this.src.id }, 0);
        this.armSessionWatchdog(client);
      } else if (name.startsWith('SYNC_CONNECTED')) {
        clearTimeout(this.sessionWatchdog);
        this.connected = true;
        this.metrics.sessionState.set({ source: this.src.id }, 1);
        void this.resync('reconnect');
      } else if (name.startsWith('EXPIRED')) {
        // An expired session's watches are gone for good: start a new session, then resync from scratch.
        clearTimeout(this.sessionWatchdog);
        this.connected = false;
        this.metrics.sessionState.set({ source: this.src.id }, 0);
        closeClient(client, 'session expired');
        void this.reopen();
      }
    });
  }

  /**
   * Disconnected for longer than the session timeout: the server has expired the session, but the client may never
   * be told — a ZooKeeper restarted with fresh data refuses it for good ("has seen zxid 0x18, our last zxid is 0xe"),
   * and node-zookeeper-client retries that forever. A new client has seen no zxid: close this one and open one.
   */
  private armSessionWatchdog(client: ZkClient): void {
    clearTimeout(this.sessionWatchdog);
    this.sessionWatchdog = setTimeout(() => {
      if (this.stopped || client !== this.client || this.connected) return;
      this.log.warn(
        { source: this.src.id, connect: this.src.connect, disconnectedMs: this.src.sessionTimeoutMs + 1000 },
        'no ZooKeeper session for longer than the session timeout: it has expired on the server; opening a new session',
      );
      this.metrics.errors.inc({ source: this.src.id, stage: 'session' });
      closeClient(client, 'no session for longer than the session timeout');
      void this.reopen();
    }, this.src.sessionTimeoutMs + 1000);
    this.sessionWatchdog.unref();
  }

  private async reopen(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.open();
        // A new session may be on a ZooKeeper rebuilt from empty data, whose zxids start again from 0: forget the
        // order kept per service, or every state it reports would be dropped as older than what the old one said.
        // (Hosts keep their last published token as a floor, so the projector does not drop them either.)
        await this.core.observe({ type: 'order-reset' });
        await this.resync('session-expired');
        return;
      } catch (e) {
        this.metrics.errors.inc({ source: this.src.id, stage: 'connect' });
        this.log.warn(
          { source: this.src.id, connect: this.src.connect, err: (e as Error).message },
          'reconnecting to ZooKeeper failed; retrying',
        );
        await backoff(RETRY.registrySession, 1);
      }
    }
  }

  /** Full resync: read every interface, publish what changed, then the end marker (deletes what vanished). */
  resync(reason: string): Promise<void> {
    return this.resyncer.run(reason);
  }

  private async resyncPass(reason: string): Promise<ResyncPass> {
    try {
      await this.core.observe({ type: 'resync-started' });
      const ifaces = await this.listInterfaces();
      if (ifaces === undefined) {
        this.log.warn(
          { source: this.src.id, root: this.rootPath() },
          'registry root does not exist yet; treating as empty',
        );
      }
      this.inResync = true;
      // Reads overlap (ZooKeeper pipelines requests on one session) so publishes batch up; the publisher keeps their order.
      // A periodic pass (the safety net for a missed watch) is paced; start-up and reconnect passes run at full speed.
      const periodic = reason === 'periodic';
      const pace = periodic ? pacer(this.src.periodicResyncReadsPerSecond) : undefined;
      // A periodic pass reads only the interfaces whose providers changed since their last read (stat first). Every
      // other pass reads everything: after a reconnect or a new session the watches, or the zxids, may not hold.
      const statFirst = periodic && this.src.mode === 'interface';
      const how = { read: 0, unchanged: 0 };
      const stopping = () => this.stopped;
      await forEachLimit(
        ifaces ?? [],
        64,
        async (iface) => {
          await pace?.();
          if (this.stopped) return;
          const unchanged = statFirst && (await this.unchangedSinceRead(iface));
          if (!unchanged) await this.readService(iface);
          const k = unchanged ? 'unchanged' : 'read';
          how[k]++;
          this.metrics.resyncKeys.inc({ source: this.src.id, how: k });
        },
        stopping,
      );
      // Interface services derived from the mapping, once every application's state is known.
      if (this.src.mode === 'application' && this.src.mappingRoot) {
        for (const app of [...this.appStates.keys()]) if (!this.observedThisPass(app)) this.appStates.delete(app);
        await forEachLimit((await this.listMapping()) ?? [], 64, (iface) => this.readMapping(iface), stopping);
      }
      this.inResync = false;
      // Reads a watch asked for and that have not finished: finish them first, so the marker knows their services.
      await Promise.allSettled(
        [...new Set([...this.coalescer.scheduled(), ...this.limiter.queued(), ...this.inflight.keys()])].map((name) =>
          this.readService(name),
        ),
      );
      // The last moment to give up: after the marker, what this pass did not see is deleted.
      if (this.stopped) throw new PassStopped(how.read + how.unchanged, ifaces?.length ?? 0);
      const events = await this.core.observe({ type: 'resync-finished' });
      const ended = events.find((e) => e.type === 'resync-ended');
      for (const app of ended?.dropped ?? []) {
        if (!this.appStates.delete(app)) continue;
        await this.republishInterfacesOf(app);
      }
      return {
        services: this.core.state.hosts.size,
        logFields: { dropped: ended?.dropped.length ?? 0, read: how.read, unchanged: how.unchanged },
      };
    } finally {
      this.inResync = false;
    }
  }

  private observedThisPass(key: string): boolean {
    return (this.core.state.keys.get(key)?.pass ?? -1) === this.core.state.pass;
  }

  private rootPath(): string {
    return this.src.mode === 'application' ? this.src.servicesRoot : this.src.root;
  }

  /** The registry root's children (interfaces, or applications in application mode), watched. */
  private readonly listInterfaces = this.watchedChildren(
    'interfaces',
    () => this.rootPath(),
    () => this.core.state.keys,
    '',
  );

  /**
   * Lists a node's children and keeps a children watch armed on it (or a creation watch while it does not exist);
   * each change schedules every child that appeared or vanished against `known`, named with `prefix`.
   */
  private watchedChildren(
    kind: 'interfaces' | 'mapping',
    path: () => string,
    known: () => ReadonlyMap<string, unknown>,
    prefix: string,
  ): () => Promise<string[] | undefined> {
    const list = async () => (await watchChildrenOrCreation(this.client!, path(), onChange))?.children.sort();
    const onChange = (): void => {
      if (this.stopped) return;
      this.metrics.watchEvents.inc({ source: this.src.id, kind });
      void (async () => {
        try {
          const now = new Set((await list()) ?? []);
          for (const c of now) if (!known().has(c)) this.schedule(prefix + c);
          for (const c of known().keys()) if (!c.startsWith(MAP) && !now.has(c)) this.schedule(prefix + c);
        } catch (e) {
          this.metrics.errors.inc({ source: this.src.id, stage: 'watch' });
          this.log.warn(
            { source: this.src.id, err: (e as Error).message },
            `reading the ${kind} failed; the next resync heals it`,
          );
        }
      })();
    };
    return list;
  }

  /** Coalesces bursts of changes to one service (leading edge, then one trailing read per window). */
  private schedule(name: string): void {
    if (!this.stopped) this.coalescer.touch(name);
  }

  /** Reads one service for a watch; settles when done (failures are handled here: logged, and retried). */
  private readNow(name: string): Promise<void> {
    const read = this.readService(name);
    this.inflight.set(name, read);
    read
      .finally(() => {
        if (this.inflight.get(name) === read) this.inflight.delete(name);
      })
      .catch(() => undefined);
    return read.catch((e) => {
      // Leadership moved on: this replica stops publishing, and the next leader re-reads everything. Not an error.
      if (e instanceof FencedError) return;
      this.metrics.errors.inc({ source: this.src.id, stage: 'read' });
      this.log.warn(
        { source: this.src.id, service: name, err: (e as Error).message },
        'reading or publishing a service failed; retrying in 1 s',
      );
      // ZooKeeper or Kafka unavailable beyond their clients' retries: read again (a reconnect also resyncs).
      setTimeout(() => this.schedule(name), backoffDelay(RETRY.republish, 1)).unref();
    });
  }

  private watcherFor(name: string, kind: string): () => void {
    const key = `${kind}:${name}`;
    let w = this.watchers.get(key);
    if (!w) {
      w = () => {
        this.metrics.watchEvents.inc({ source: this.src.id, kind });
        this.schedule(name);
      };
      this.watchers.set(key, w);
    }
    return w;
  }

  private readService(name: string): Promise<void> {
    if (name.startsWith(MAP)) return this.readMapping(name.slice(MAP.length));
    return this.src.mode === 'application' ? this.readApp(name) : this.readInterface(name);
  }

  /**
   * True when the interface's providers node has not changed since the read whose state the decider holds — its
   * pzxid moves with every provider registered or removed, and that read armed a children watch that has not fired —
   * after telling the decider it was observed (in the same tick as the check, so no read can land in between).
   * A stat is ~100 bytes against a full listing of every provider URL, which at 50,000 interfaces made the periodic
   * re-read the slowest moment of a busy registry (docs/collectors.md, "Periodic re-read").
   */
  private async unchangedSinceRead(iface: string): Promise<boolean> {
    const stat = await statOf(this.client!, this.providersPath(iface));
    if (!stat || !holdsReadAt(this.core.state, iface, zxid(stat.pzxid))) return false;
    await this.core.observe({ type: 'unchanged', key: iface });
    return true;
  }

  private providersPath(iface: string): string {
    return `${this.src.root}/${iface}/providers`;
  }

  /** Reads one interface's providers (re-arming the watch) and publishes its state. Returns its mesh key if present. */
  private async readInterface(iface: string): Promise<void> {
    const client = this.client!;
    const path = this.providersPath(iface);
    const watch = this.watcherFor(iface, 'providers');
    const res = await watchChildrenOrCreation(client, path, watch);
    if (!res) {
      // Interface node without providers (consumers only, or being deleted): not a service, or no longer one.
      await this.vanished(iface);
      return;
    }
    const state = normaliseDubboService(this.src, iface, res.children, this.parsed.parserFor(iface, res.children));
    await this.publish(iface, state, zxid(res.stat.pzxid), { path, children: res.children });
  }

  /**
   * Reads one Dubbo 3 application's instances and their data (re-arming child and data watches: Dubbo rewrites an
   * instance's data when its metadata revision changes) and publishes the application's state.
   */
  private async readApp(app: string): Promise<void> {
    const client = this.client!;
    const path = `${this.src.servicesRoot}/${app}`;
    const watch = this.watcherFor(app, 'instances');
    const res = await getChildren(client, path, watch);
    // Instances are named <ip>:<port>. With a registry group, Dubbo keeps applications and interfaces side by side
    // under one root: an interface node (providers, consumers, configurators, routers) is not an application.
    const names = res?.children.filter((c) => INSTANCE_NAME.test(c)) ?? [];
    if (!res || (names.length === 0 && res.children.length > 0)) {
      this.appStates.delete(app);
      await this.vanished(app);
      await this.republishInterfacesOf(app);
      return;
    }
    let token = zxid(res.stat.pzxid);
    const nodes = await Promise.all(
      names.map(async (name) => {
        const d = await getData(client, `${path}/${name}`, watch);
        if (d) token = Math.max(token, zxid(d.stat.mzxid));
        return { name, data: d?.data ?? Buffer.alloc(0), exists: d !== undefined };
      }),
    );
    // An instance deleted between listing and reading is gone (its child watch fires again anyway).
    const present = nodes.filter((n) => n.exists);
    const state = normaliseDubboApp(this.src, app, present);
    this.appStates.set(app, state);
    await this.publish(app, state, token, {
      path,
      instances: present.map((n) => ({ name: n.name, data: n.data.toString('utf8').slice(0, 4096) })),
    });
    await this.republishInterfacesOf(app);
  }

  /** The interface→application mapping root's children (interfaces), watched. */
  private readonly listMapping = this.watchedChildren(
    'mapping',
    () => this.src.mappingRoot!,
    () => this.mapping,
    MAP,
  );

  /** Reads one interface's mapping node (which applications provide it) and publishes the interface service. */
  private async readMapping(iface: string): Promise<void> {
    const d = await getData(this.client!, `${this.src.mappingRoot}/${iface}`, this.watcherFor(MAP + iface, 'mapping'));
    if (!d) {
      this.mapping.delete(iface);
      await this.vanished(MAP + iface);
      return;
    }
    this.mapping.set(iface, parseMapping(d.data));
    await this.publishInterface(iface);
  }

  private publishInterface(iface: string): Promise<void> {
    const apps = this.mapping.get(iface) ?? [];
    const src = this.src;
    const state = composeInterfaceService(
      { namespace: src.namespace, id: src.id, interfaceHostTemplate: src.interfaceHostTemplate },
      iface,
      apps.map((a) => this.appStates.get(a)).filter((x): x is ServiceState => x !== undefined),
    );
    return this.publish(MAP + iface, state, null, { mapping: `${src.mappingRoot}/${iface}`, applications: apps });
  }

  /**
   * An application changed: every interface it provides changed too. During a resync the interfaces are composed
   * last, once every application is read, so they are skipped here — except one already composed in this pass: an
   * application read a watch started (in flight through the pass) can finish after its interface was composed, and
   * the interface would otherwise keep the application's older instances until its next change.
   */
  private async republishInterfacesOf(app: string): Promise<void> {
    if (!this.src.mappingRoot) return;
    for (const [iface, apps] of this.mapping) {
      if (!apps.includes(app) || (this.inResync && !this.observedThisPass(MAP + iface))) continue;
      await this.publishInterface(iface);
    }
  }

  private async vanished(name: string): Promise<void> {
    this.parsed.forget(name);
    await this.core.observe({ type: 'absent', key: name });
  }

  private async publish(name: string, state: ServiceState, token: number | null, raw: unknown): Promise<void> {
    await this.core.observe({ type: 'present', key: name, state, order: token }, raw);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.sessionWatchdog);
    this.coalescer.stop();
    this.limiter.clear();
    // Reads queued while ZooKeeper is unreachable would never be answered: abandon them instead of waiting on them.
    if (this.client && !this.connected) closeClient(this.client, 'source stopping while disconnected');
    await this.resyncer.settle();
    if (this.client) closeClient(this.client, 'source stopped');
  }
}
