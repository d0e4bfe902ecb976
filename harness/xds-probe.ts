import * as grpc from '@grpc/grpc-js';
import {
  DiscoveryRequest,
  DiscoveryResponse,
  EnvoyCluster,
  EnvoyClusterLoadAssignment,
  EnvoyListener,
  EnvoyTcpProxy,
} from '../schemas/proto.ts';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const CLA_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export interface DecodedResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: { typeUrl: string; value: Uint8Array }[];
}

/** A minimal ADS client (state of the world) with raw protobuf framing: tests speak to istiod and to our gateway. */
/**
 * resource_names (DiscoveryRequest field 3) encoded once per list: a sidecar ACKs every EDS response with all of its
 * cluster names (10,000 at bench:e2e's scale), and re-encoding them each time cost the benchmark's client more CPU than
 * the gateway spends. Protobuf fields may come in any order, so these bytes are appended to the rest of the request.
 */
const namesCache = new WeakMap<readonly string[], Uint8Array>();
function encodedNames(names: readonly string[]): Uint8Array {
  let b = namesCache.get(names);
  if (!b) {
    b = DiscoveryRequest.encode(DiscoveryRequest.fromObject({ resource_names: names })).finish();
    namesCache.set(names, b);
  }
  return b;
}

export class XdsClient {
  private readonly client: grpc.Client;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private readonly waiters: { typeUrl: string; resolve: (r: DecodedResponse) => void; reject: (e: Error) => void }[] =
    [];
  readonly received: DecodedResponse[] = [];
  closedWith: Error | undefined;

  /** Called with every response as it arrives (before any waiter), with its arrival time; set it before open(). */
  onResponse: ((r: DecodedResponse, arrivedAt: number) => void) | undefined;

  constructor(
    address: string,
    private readonly node: { id: string; metadata?: Record<string, string> },
    opts: { credentials?: grpc.ChannelCredentials; channelOptions?: grpc.ChannelOptions } = {},
  ) {
    this.client = new grpc.Client(address, opts.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      ...opts.channelOptions,
    });
  }

  open(): this {
    this.call = this.client.makeBidiStreamRequest(
      ADS,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    this.call.on('data', (b: Buffer) => {
      const arrivedAt = Date.now();
      const r = DiscoveryResponse.toObject(DiscoveryResponse.decode(b), { defaults: true }) as {
        version_info: string;
        type_url: string;
        nonce: string;
        resources: { type_url: string; value: Uint8Array }[];
      };
      const d: DecodedResponse = {
        versionInfo: r.version_info,
        typeUrl: r.type_url,
        nonce: r.nonce,
        resources: r.resources.map((a) => ({ typeUrl: a.type_url, value: a.value })),
      };
      if (this.onResponse) {
        this.onResponse(d, arrivedAt);
        return;
      }
      this.received.push(d);
      const i = this.waiters.findIndex((w) => w.typeUrl === d.typeUrl);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(d);
    });
    this.call.on('error', (e) => {
      this.closedWith = e;
      for (const w of this.waiters.splice(0)) w.reject(e);
    });
    return this;
  }

  send(req: {
    typeUrl: string;
    versionInfo?: string;
    nonce?: string;
    resourceNames?: string[];
    withNode?: boolean;
  }): void {
    const fields = Object.fromEntries(
      Object.entries(this.node.metadata ?? {}).map(([k, v]) => [k, { stringValue: v }]),
    );
    const msg = DiscoveryRequest.fromObject({
      type_url: req.typeUrl,
      version_info: req.versionInfo ?? '',
      response_nonce: req.nonce ?? '',
      ...(req.withNode === false ? {} : { node: { id: this.node.id, metadata: { fields } } }),
    });
    const names = req.resourceNames ?? [];
    this.call!.write(Buffer.concat([DiscoveryRequest.encode(msg).finish(), encodedNames(names)]));
  }

  /** The next response of a type (registered before sending, so it cannot be missed). */
  next(typeUrl: string, timeoutMs = 15_000): Promise<DecodedResponse> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${typeUrl} response within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        typeUrl,
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
  }

  async request(typeUrl: string, resourceNames: string[] = [], timeoutMs?: number): Promise<DecodedResponse> {
    const p = this.next(typeUrl, timeoutMs);
    this.send({ typeUrl, resourceNames });
    return p;
  }

  ack(r: DecodedResponse): void {
    this.send({ typeUrl: r.typeUrl, versionInfo: r.versionInfo, nonce: r.nonce });
  }

  close(): void {
    this.call?.cancel();
    this.client.close();
  }
}

export interface ProxyView {
  clusters: string[];
  endpoints: Record<string, { address: string; port: number }[]>;
  /** `address:port` → the load-balancing weight the sidecar gets for it, per cluster (Envoy's default 1 when unset). */
  weights: Record<string, Record<string, number>>;
}

/**
 * What istiod hands a sidecar: CDS, then EDS for the `outbound|` clusters matching `filter`. Uses a throw-away
 * stream per call so every look is fresh.
 */
export async function proxyView(
  istiodGrpc: string,
  filter: (cluster: string) => boolean = () => true,
): Promise<ProxyView> {
  const c = new XdsClient(istiodGrpc, {
    id: 'sidecar~10.0.0.1~probe.default~default.svc.cluster.local',
    metadata: { NAMESPACE: 'default' },
  }).open();
  try {
    const cds = await c.request(CLUSTER_TYPE);
    const clusters = cds.resources
      .map((r) => (EnvoyCluster.decode(r.value) as unknown as { name: string }).name)
      .sort();
    const wanted = clusters.filter((n) => n.startsWith('outbound|') && filter(n));
    const endpoints: ProxyView['endpoints'] = {};
    const weights: ProxyView['weights'] = {};
    if (wanted.length > 0) {
      c.ack(cds);
      const eds = await c.request(CLA_TYPE, wanted);
      for (const r of eds.resources) {
        const cla = EnvoyClusterLoadAssignment.toObject(EnvoyClusterLoadAssignment.decode(r.value), {
          defaults: true,
        }) as {
          cluster_name: string;
          endpoints: {
            lb_endpoints: {
              endpoint?: { address?: { socket_address?: { address: string; port_value: number } } };
              load_balancing_weight?: { value: number } | null;
            }[];
          }[];
        };
        const lb = cla.endpoints
          .flatMap((l) => l.lb_endpoints)
          .map((e) => ({
            address: e.endpoint?.address?.socket_address?.address ?? '',
            port: e.endpoint?.address?.socket_address?.port_value ?? 0,
            weight: e.load_balancing_weight?.value || 1,
          }));
        endpoints[cla.cluster_name] = lb
          .map(({ address, port }) => ({ address, port }))
          .sort((a, b) => (a.address < b.address ? -1 : 1));
        weights[cla.cluster_name] = Object.fromEntries(lb.map((e) => [`${e.address}:${e.port}`, e.weight]));
      }
    }
    return { clusters, endpoints, weights };
  } finally {
    c.close();
  }
}

/** Where one TCP filter chain of a sidecar listener sends traffic: one cluster, or weighted clusters. */
export interface TcpRoute {
  listener: string;
  chain: string;
  cluster?: string;
  weighted?: { name: string; weight: number }[];
}

/**
 * The TCP routes istiod hands a sidecar (LDS): every tcp_proxy in every filter chain of the listeners `filter`
 * accepts. A VirtualService's `tcp:` routes (and a DestinationRule's subsets they name) show up here: TCP ports have
 * no RDS.
 */
export async function tcpRoutes(istiodGrpc: string, filter: (listener: string) => boolean): Promise<TcpRoute[]> {
  const c = new XdsClient(istiodGrpc, {
    id: 'sidecar~10.0.0.1~probe.default~default.svc.cluster.local',
    metadata: { NAMESPACE: 'default' },
  }).open();
  try {
    const lds = await c.request(LISTENER_TYPE);
    const out: TcpRoute[] = [];
    type Chain = { name: string; filters: { name: string; typed_config?: { type_url: string; value: Uint8Array } }[] };
    for (const r of lds.resources) {
      const l = EnvoyListener.toObject(EnvoyListener.decode(r.value), { defaults: true }) as {
        name: string;
        filter_chains: Chain[];
        default_filter_chain?: Chain;
      };
      if (!filter(l.name)) continue;
      for (const chain of [...l.filter_chains, ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
        for (const f of chain.filters) {
          if (f.typed_config?.type_url !== TCP_PROXY_TYPE) continue;
          const t = EnvoyTcpProxy.toObject(EnvoyTcpProxy.decode(f.typed_config.value), { defaults: true }) as {
            cluster: string;
            weighted_clusters?: { clusters: { name: string; weight: number }[] };
          };
          const weighted = t.weighted_clusters?.clusters.length
            ? t.weighted_clusters.clusters.map(({ name, weight }) => ({ name, weight }))
            : undefined;
          out.push({
            listener: l.name,
            chain: chain.name,
            ...(t.cluster ? { cluster: t.cluster } : {}),
            ...(weighted ? { weighted } : {}),
          });
        }
      }
    }
    return out;
  } finally {
    c.close();
  }
}
