import { connect, getData, zookeeper, type ZkClient } from '../services/collector/zk-client.ts';
import { createWithData, mkdirp, remove, setData } from './zk-write.ts';

/**
 * Registers Dubbo 3 application-level instances the way Dubbo's ZookeeperServiceDiscovery does (through Curator's
 * ServiceDiscovery): an ephemeral <servicesRoot>/<app>/<ip>:<port> znode holding Curator's JSON instance with a
 * ZookeeperInstance payload and Dubbo's metadata, plus the persistent interface → application mapping node.
 */
export class DubboAppRegistrar {
  private constructor(
    private readonly client: ZkClient,
    private readonly servicesRoot: string,
    private readonly mappingRoot: string,
  ) {}

  static async open(connectString: string, servicesRoot: string, mappingRoot: string): Promise<DubboAppRegistrar> {
    return new DubboAppRegistrar(await connect(connectString, 30_000, 3), servicesRoot, mappingRoot);
  }

  static instanceJson(
    app: string,
    ip: string,
    port: number,
    opts: { endpoints?: { port: number; protocol: string }[]; revision?: string; extra?: Record<string, string> } = {},
  ): string {
    const id = `${ip}:${port}`;
    const metadata = {
      'dubbo.endpoints': JSON.stringify(opts.endpoints ?? [{ port, protocol: 'dubbo' }]),
      'dubbo.metadata-service.url-params': JSON.stringify({
        connections: '1',
        version: '1.0.0',
        dubbo: '2.0.2',
        release: '3.2.14',
        side: 'provider',
        port: String(port),
        protocol: 'dubbo',
      }),
      'dubbo.metadata.revision': opts.revision ?? 'a1b2c3d4e5f6',
      'dubbo.metadata.storage-type': 'local',
      timestamp: '1700000000000',
      ...opts.extra,
    };
    return JSON.stringify({
      name: app,
      id,
      address: ip,
      port,
      sslPort: null,
      payload: { '@class': 'org.apache.dubbo.registry.zookeeper.ZookeeperInstance', id, name: app, metadata },
      registrationTimeUTC: 1700000000000,
      serviceType: 'DYNAMIC',
      uriSpec: null,
    });
  }

  async register(
    app: string,
    ip: string,
    port: number,
    opts: Parameters<typeof DubboAppRegistrar.instanceJson>[3] & { interfaces?: string[] } = {},
  ): Promise<string> {
    await mkdirp(this.client, `${this.servicesRoot}/${app}`);
    const path = `${this.servicesRoot}/${app}/${ip}:${port}`;
    await createWithData(
      this.client,
      path,
      Buffer.from(DubboAppRegistrar.instanceJson(app, ip, port, opts)),
      zookeeper.CreateMode.EPHEMERAL,
    );
    // Dubbo appends the application to the interface's comma-separated mapping.
    for (const iface of opts.interfaces ?? []) {
      const node = `${this.mappingRoot}/${iface}`;
      await mkdirp(this.client, node);
      const cur = (await getData(this.client, node))?.data?.toString('utf8') ?? '';
      const apps = new Set(cur.split(',').filter(Boolean));
      apps.add(app);
      await setData(this.client, node, Buffer.from([...apps].join(',')));
    }
    return path;
  }

  /** Writes raw instance data (bad-input tests) or rewrites an instance (metadata revision change). */
  async write(path: string, data: string): Promise<void> {
    await setData(this.client, path, Buffer.from(data));
  }

  async registerRaw(app: string, name: string, data: string): Promise<string> {
    await mkdirp(this.client, `${this.servicesRoot}/${app}`);
    const path = `${this.servicesRoot}/${app}/${name}`;
    await createWithData(this.client, path, Buffer.from(data), zookeeper.CreateMode.EPHEMERAL);
    return path;
  }

  unregister(path: string): Promise<void> {
    return remove(this.client, path);
  }

  close(): void {
    this.client.close();
  }
}
