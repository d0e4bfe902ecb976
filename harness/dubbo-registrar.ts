import { formatDubboProviderUrl } from './dubbo-url-format.ts';
import { connect, getChildren, zookeeper, type ZkClient } from '../services/collector/zk-client.ts';
import { create, mkdirp, remove } from './zk-write.ts';

/** Registers providers in ZooKeeper the way Apache Dubbo 2.7/3 does (interface-level registry). */
export class DubboRegistrar {
  private constructor(
    private readonly client: ZkClient,
    private readonly root: string,
    private readonly mode: number,
  ) {}

  /**
   * `persistent`: provider nodes outlive this client's session — for tests that restart ZooKeeper and must reopen
   * the registrar (Dubbo's own nodes are ephemeral, the default).
   */
  static async open(connectString: string, root: string, opts: { persistent?: boolean } = {}): Promise<DubboRegistrar> {
    return new DubboRegistrar(
      // Reopened after tests restart ZooKeeper: a fresh client if the first one gets stuck (zk-client.ts, connect).
      await connect(connectString, 30_000, 3),
      root,
      opts.persistent ? zookeeper.CreateMode.PERSISTENT : zookeeper.CreateMode.EPHEMERAL,
    );
  }

  /** Dubbo's own URL for a provider: protocol://ip:port/interface?params (params as Dubbo 2.7.x writes them). */
  static providerUrl(iface: string, ip: string, port: number, extra: Record<string, string> = {}, protocol = 'dubbo') {
    return formatDubboProviderUrl({
      protocol,
      host: ip,
      port,
      path: iface,
      params: {
        anyhost: 'true',
        application: 'demo-provider',
        deprecated: 'false',
        dubbo: '2.0.2',
        dynamic: 'true',
        generic: 'false',
        interface: iface,
        methods: 'sayHello,sayHelloAsync',
        pid: '4242',
        release: '2.7.23',
        side: 'provider',
        timestamp: '1700000000000',
        ...extra,
      },
    });
  }

  /** Creates the persistent parents and the ephemeral provider node, as Dubbo's ZookeeperRegistry does. */
  async register(
    iface: string,
    ip: string,
    port: number,
    extra: Record<string, string> = {},
    protocol = 'dubbo',
  ): Promise<string> {
    const dir = `${this.root}/${iface}/providers`;
    await mkdirp(this.client, dir);
    const path = `${dir}/${DubboRegistrar.providerUrl(iface, ip, port, extra, protocol)}`;
    await create(this.client, path, this.mode);
    return path;
  }

  /** Writes a raw child name (malformed-data tests). */
  async registerRaw(iface: string, child: string): Promise<string> {
    const dir = `${this.root}/${iface}/providers`;
    await mkdirp(this.client, dir);
    const path = `${dir}/${child}`;
    await create(this.client, path, this.mode);
    return path;
  }

  unregister(path: string): Promise<void> {
    return remove(this.client, path);
  }

  /** Full paths of an interface's provider nodes. */
  async providers(iface: string): Promise<string[]> {
    const dir = `${this.root}/${iface}/providers`;
    return ((await getChildren(this.client, dir))?.children ?? []).map((c) => `${dir}/${c}`);
  }

  close(): void {
    this.client.close();
  }
}
