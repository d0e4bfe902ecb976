/** One instance to register, as a Eureka client describes itself. */
export interface EurekaRegistration {
  app: string;
  id: string;
  ip: string;
  port: number;
  securePort?: number;
  status?: 'UP' | 'DOWN' | 'STARTING' | 'OUT_OF_SERVICE' | 'UNKNOWN';
  metadata?: Record<string, string>;
  /** Lease length: the server evicts an instance not renewed for this long (tests register long leases). */
  leaseSeconds?: number;
}

/**
 * Registers instances through Eureka's REST API the way Eureka clients do (POST /apps/<APP> with the instance's
 * InstanceInfo as JSON; PUT .../status; DELETE to cancel). Every call throws on an answer other than 2xx.
 */
export class EurekaRegistrar {
  constructor(private readonly url: string) {}

  static body(r: EurekaRegistration): unknown {
    return {
      instance: {
        instanceId: r.id,
        hostName: r.ip,
        app: r.app.toUpperCase(),
        ipAddr: r.ip,
        status: r.status ?? 'UP',
        port: { $: r.port, '@enabled': 'true' },
        securePort: { $: r.securePort ?? 443, '@enabled': r.securePort ? 'true' : 'false' },
        vipAddress: r.app.toLowerCase(),
        secureVipAddress: r.app.toLowerCase(),
        dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
        leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: r.leaseSeconds ?? 3600 },
        metadata: r.metadata ?? {},
      },
    };
  }

  async register(r: EurekaRegistration): Promise<void> {
    await this.call('POST', `/apps/${encodeURIComponent(r.app.toUpperCase())}`, EurekaRegistrar.body(r));
  }

  /** Sets an overridden status (how operators take an instance out: OUT_OF_SERVICE, or DOWN). */
  async setStatus(app: string, id: string, status: string): Promise<void> {
    await this.call(
      'PUT',
      `/apps/${encodeURIComponent(app.toUpperCase())}/${encodeURIComponent(id)}/status?value=${status}`,
    );
  }

  async cancel(app: string, id: string): Promise<void> {
    await this.call('DELETE', `/apps/${encodeURIComponent(app.toUpperCase())}/${encodeURIComponent(id)}`);
  }

  private async call(method: string, path: string, body?: unknown): Promise<void> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Eureka ${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
  }
}
