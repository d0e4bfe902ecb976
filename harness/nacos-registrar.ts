import { NacosConnection } from '../services/collector/nacos-grpc.ts';
import type { NacosServer } from './nacos.ts';

export interface NacosInstance {
  ip: string;
  port: number;
  weight?: number;
  healthy?: boolean;
  enabled?: boolean;
  clusterName?: string;
  metadata?: Record<string, string>;
}

export interface Where {
  service: string;
  group?: string;
  namespace?: string;
}

/**
 * Registers instances in a real Nacos the way its clients do: ephemeral instances over gRPC, one connection per
 * instance as one per application process (Nacos keeps one ephemeral instance per service and connection, and drops
 * a connection's instances when it closes), persistent ones with PersistentInstanceRequest (kept until
 * deregistered; Nacos health-checks them itself by connecting to ip:port).
 */
export class NacosRegistrar {
  private readonly conns = new Map<string, NacosConnection>();

  constructor(private readonly nacos: NacosServer) {}

  private async connection(key = ''): Promise<NacosConnection> {
    const cur = this.conns.get(key);
    if (cur && !cur.isClosed) return cur;
    const token = await this.nacos.token();
    const conn = new NacosConnection({
      target: `127.0.0.1:${this.nacos.grpcPort}`,
      token: () => token,
      requestTimeoutMs: 30_000,
    });
    await conn.open();
    this.conns.set(key, conn);
    return conn;
  }

  private body(w: Where, type: string, inst: NacosInstance, ephemeral: boolean): Record<string, unknown> {
    return {
      namespace: w.namespace ?? 'public',
      groupName: w.group ?? 'DEFAULT_GROUP',
      serviceName: w.service,
      type,
      instance: {
        ip: inst.ip,
        port: inst.port,
        weight: inst.weight ?? 1,
        healthy: inst.healthy ?? true,
        enabled: inst.enabled ?? true,
        ephemeral,
        clusterName: inst.clusterName ?? 'DEFAULT',
        serviceName: w.service,
        metadata: inst.metadata ?? {},
      },
    };
  }

  /** Registers (or re-registers with new fields) an ephemeral instance. */
  async register(w: Where, inst: NacosInstance): Promise<void> {
    await (await this.connection(`${inst.ip}:${inst.port}`)).request(
      'InstanceRequest',
      this.body(w, 'registerInstance', inst, true),
    );
  }

  async deregister(w: Where, inst: NacosInstance): Promise<void> {
    await (await this.connection(`${inst.ip}:${inst.port}`)).request(
      'InstanceRequest',
      this.body(w, 'deregisterInstance', inst, true),
    );
  }

  /** Registers one service's ephemeral instances in one request (replaces what this connection had there). */
  async registerBatch(w: Where, instances: NacosInstance[]): Promise<void> {
    const one = (i: NacosInstance) => this.body(w, '', i, true).instance;
    await (await this.connection()).request('BatchInstanceRequest', {
      namespace: w.namespace ?? 'public',
      groupName: w.group ?? 'DEFAULT_GROUP',
      serviceName: w.service,
      type: 'batchRegisterInstance',
      instances: instances.map(one),
    });
  }

  async registerPersistent(w: Where, inst: NacosInstance): Promise<void> {
    await (await this.connection()).request('PersistentInstanceRequest', this.body(w, 'registerInstance', inst, false));
  }

  async deregisterPersistent(w: Where, inst: NacosInstance): Promise<void> {
    await (await this.connection()).request(
      'PersistentInstanceRequest',
      this.body(w, 'deregisterInstance', inst, false),
    );
  }

  /** Closes one instance's connection: Nacos drops its ephemeral instances, as when an application dies. */
  crash(inst: NacosInstance): void {
    this.conns.get(`${inst.ip}:${inst.port}`)?.close();
    this.conns.delete(`${inst.ip}:${inst.port}`);
  }

  close(): void {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }
}
