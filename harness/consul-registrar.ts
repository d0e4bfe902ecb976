/**
 * Registers services in Consul through its HTTP API, as external services (PUT /v1/catalog/register): each instance on
 * a node of its own address and meta, with a check in the state the test chooses. This is how consul-esm, Nomad and
 * registrators write the catalog; an agent-local registration ends up in the same catalog.
 */
export interface ConsulInstance {
  service: string;
  id: string;
  node?: string;
  address: string;
  port: number;
  tags?: string[];
  meta?: Record<string, string>;
  nodeMeta?: Record<string, string>;
  weights?: { Passing: number; Warning: number };
  status?: 'passing' | 'warning' | 'critical';
  /** Overrides Service.Address (e.g. a hostname) while the node keeps `address`. */
  serviceAddress?: string;
}

export class ConsulRegistrar {
  constructor(
    private readonly address: string,
    private readonly token?: string,
    private readonly datacenter?: string,
  ) {}

  private async put(path: string, body: unknown): Promise<void> {
    const q = this.datacenter ? `?dc=${this.datacenter}` : '';
    const res = await fetch(`${this.address}${path}${q}`, {
      method: 'PUT',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(this.token ? { 'x-consul-token': this.token } : {}) },
    });
    if (!res.ok) throw new Error(`consul PUT ${path}: ${res.status} ${await res.text()}`);
  }

  static nodeOf(i: ConsulInstance): string {
    return i.node ?? `node-${i.address.replace(/[.:]/g, '-')}`;
  }

  async register(i: ConsulInstance): Promise<void> {
    const node = ConsulRegistrar.nodeOf(i);
    await this.put('/v1/catalog/register', {
      Node: node,
      Address: i.address,
      NodeMeta: i.nodeMeta ?? {},
      SkipNodeUpdate: false,
      Service: {
        ID: i.id,
        Service: i.service,
        Address: i.serviceAddress ?? i.address,
        Port: i.port,
        Tags: i.tags ?? [],
        Meta: i.meta ?? {},
        ...(i.weights ? { Weights: i.weights } : {}),
      },
      Checks: [
        {
          Node: node,
          CheckID: `check:${i.id}`,
          Name: `health of ${i.id}`,
          Status: i.status ?? 'passing',
          ServiceID: i.id,
        },
      ],
    });
  }

  /** Changes only the instance's check status. */
  async setStatus(i: ConsulInstance, status: 'passing' | 'warning' | 'critical'): Promise<void> {
    await this.register({ ...i, status });
  }

  async deregister(i: ConsulInstance): Promise<void> {
    await this.put('/v1/catalog/deregister', { Node: ConsulRegistrar.nodeOf(i), ServiceID: i.id });
  }
}
