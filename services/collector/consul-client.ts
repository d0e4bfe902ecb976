import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import Consul from 'consul';
import type { ConsulSourceConfig } from '../../services/shared/config.ts';

/**
 * The Consul HTTP calls a collector needs, over the `consul` npm package (the card's choice). The package covers
 * blocking queries (index/wait), ACL tokens, datacenters and cancellation; its typings omit the options that expose
 * the response (`ctx.includeResponse`, needed for X-Consul-Index) and the per-request timeout, hence the one cast
 * below. Responses are returned raw (untrusted): normalisation validates them.
 */
export interface Blocking<T> {
  body: T;
  index: number;
}

interface RawOpts {
  index?: string;
  wait?: string;
  dc?: string;
  token?: string;
  timeout?: number;
  ctx?: EventEmitter & { includeResponse?: boolean };
}
type Call = (opts: RawOpts) => Promise<[IncomingMessage, unknown]>;

export class ConsulClient {
  private readonly consul: Consul;
  private readonly token: string | undefined;
  /** In-flight blocking requests, cancelled on close so stop() is immediate. */
  private readonly inflight = new Set<EventEmitter>();

  constructor(
    private readonly src: ConsulSourceConfig,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const url = new URL(src.address);
    this.consul = new Consul({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      secure: url.protocol === 'https:',
    });
    this.token = resolveToken(src, env);
  }

  private async call(fn: Call, index: number | undefined): Promise<Blocking<unknown>> {
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    this.inflight.add(ctx);
    const waitS = this.src.blockWaitSeconds;
    try {
      const [res, body] = await fn({
        ...(index !== undefined ? { index: String(index), wait: `${waitS}s` } : {}),
        ...(this.src.datacenter ? { dc: this.src.datacenter } : {}),
        ...(this.token ? { token: this.token } : {}),
        // Consul adds up to wait/16 of jitter to a blocking query; a request that outlives that is a dead connection.
        timeout: index !== undefined ? waitS * 1000 + Math.ceil((waitS * 1000) / 16) + 5000 : 10_000,
        ctx,
      });
      const header = Number(res.headers['x-consul-index']);
      return { body, index: Number.isFinite(header) ? header : 0 };
    } finally {
      this.inflight.delete(ctx);
    }
  }

  /** GET /v1/catalog/services: service name → tags. */
  catalogServices(index?: number): Promise<Blocking<unknown>> {
    return this.call((o) => (this.consul.catalog.service.list as unknown as Call)(o), index);
  }

  /** GET /v1/health/service/<name>: every instance with its node and checks (health filtered by the normaliser). */
  healthService(service: string, index?: number): Promise<Blocking<unknown>> {
    return this.call((o) => (this.consul.health.service as unknown as Call)({ ...o, service } as RawOpts), index);
  }

  /** The agent's own datacenter (GET /v1/agent/self), used when the source names none. */
  async datacenter(): Promise<string> {
    if (this.src.datacenter) return this.src.datacenter;
    const self = (await this.consul.agent.self(this.token ? { token: this.token } : undefined)) as {
      Config?: { Datacenter?: string };
    };
    return self.Config?.Datacenter ?? '';
  }

  close(): void {
    for (const ctx of this.inflight) ctx.emit('cancel');
    this.consul.destroy();
  }
}

/** MESHBRIDGE_CONSUL_TOKEN_<ID> (id upper-cased, non-alphanumerics as _) beats tokenFile beats token. */
export function resolveToken(
  src: Pick<ConsulSourceConfig, 'id' | 'token' | 'tokenFile'>,
  env: NodeJS.ProcessEnv,
): string | undefined {
  const fromEnv = env[`MESHBRIDGE_CONSUL_TOKEN_${src.id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`];
  if (fromEnv) return fromEnv;
  if (src.tokenFile) return fs.readFileSync(src.tokenFile, 'utf8').trim();
  return src.token;
}
