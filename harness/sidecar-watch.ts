import { CLA_TYPE, CLUSTER_TYPE, XdsClient, type DecodedResponse } from './xds-probe.ts';
import { DeltaXdsClient, type DeltaResponse } from './xds-delta-client.ts';
import { EnvoyCluster, EnvoyClusterLoadAssignment } from '../schemas/proto.ts';

/** The sidecar's protocol (BENCH_SIDECAR): delta, what istiod's sidecars speak by default, or sotw. */
export const sidecarMode = (): 'delta' | 'sotw' => (process.env.BENCH_SIDECAR === 'sotw' ? 'sotw' : 'delta');

/**
 * A sidecar as istiod sees one: CDS, then EDS for every meshbridge cluster, ACKing every response. Keeps each
 * cluster's endpoint set and reports, with the response's arrival time, every endpoint that appeared or left.
 * Speaks delta xDS by default, as istiod's sidecars do (ISTIO_DELTA_XDS); BENCH_SIDECAR=sotw for state of the world,
 * whose ACKs repeat every subscribed cluster name (10,000 at this scale) for istiod to decode each time. Holds its
 * stream open, so it sees every push istiod sends (the benchmarks' latency, the tests' gaps).
 */

export class Sidecar {
  readonly endpoints = new Map<string, Set<string>>();
  clusters: string[] = [];
  edsResponses = 0;
  cdsResponses = 0;
  private readonly sotw: XdsClient | undefined;
  private readonly delta: DeltaXdsClient | undefined;
  private edsVersion = '';
  private edsNonce = '';
  constructor(
    address: string,
    readonly mode: 'delta' | 'sotw',
    /** Cluster-name prefix of the benchmark's services: the only clusters followed. */
    private readonly clusterPrefix: string,
    private readonly onChange: (cluster: string, added: string[], removed: string[], at: number) => void,
  ) {
    const node = {
      id: 'sidecar~10.0.0.1~bench.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default' },
    };
    if (mode === 'sotw') {
      this.sotw = new XdsClient(address, node);
      this.sotw.onResponse = (r, at) => this.onSotw(r, at);
    } else {
      this.delta = new DeltaXdsClient(address, node);
      this.delta.onResponse = (r, at) => this.onDelta(r, at);
    }
  }
  start(): void {
    this.sotw?.open().send({ typeUrl: CLUSTER_TYPE });
    this.delta?.open().subscribe(CLUSTER_TYPE);
  }
  close(): void {
    this.sotw?.close();
    this.delta?.close();
  }
  private ours = (name: string) => name.startsWith(this.clusterPrefix);
  private onSotw(r: DecodedResponse, at: number): void {
    const c = this.sotw!;
    if (r.typeUrl === CLUSTER_TYPE) {
      this.cdsResponses++;
      const names = r.resources
        .map((x) => (EnvoyCluster.decode(x.value) as unknown as { name: string }).name)
        .filter(this.ours)
        .sort();
      c.send({ typeUrl: CLUSTER_TYPE, versionInfo: r.versionInfo, nonce: r.nonce });
      if (names.join() !== this.clusters.join()) {
        this.clusters = names;
        c.send({ typeUrl: CLA_TYPE, resourceNames: names, versionInfo: this.edsVersion, nonce: this.edsNonce });
      }
      return;
    }
    if (r.typeUrl !== CLA_TYPE) return;
    this.edsResponses++;
    this.edsVersion = r.versionInfo;
    this.edsNonce = r.nonce;
    c.send({ typeUrl: CLA_TYPE, resourceNames: this.clusters, versionInfo: r.versionInfo, nonce: r.nonce });
    for (const x of r.resources) this.applyCla(x.value, at);
  }
  private onDelta(r: DeltaResponse, at: number): void {
    const c = this.delta!;
    c.ack(r);
    if (r.typeUrl === CLUSTER_TYPE) {
      this.cdsResponses++;
      const have = new Set(this.clusters);
      const added = r.resources.map((x) => x.name).filter((n) => this.ours(n) && !have.has(n));
      const removed = r.removed.filter((n) => have.has(n));
      if (added.length === 0 && removed.length === 0) return;
      for (const n of removed) have.delete(n);
      this.clusters = [...have, ...added].sort();
      c.subscribe(CLA_TYPE, added, removed);
      return;
    }
    if (r.typeUrl !== CLA_TYPE) return;
    this.edsResponses++;
    for (const x of r.resources) this.applyCla(x.value, at);
  }
  private applyCla(value: Uint8Array, at: number): void {
    const cla = EnvoyClusterLoadAssignment.decode(value) as unknown as {
      cluster_name: string;
      endpoints: {
        lb_endpoints: { endpoint?: { address?: { socket_address?: { address: string; port_value: number } } } }[];
      }[];
    };
    const now = new Set<string>();
    for (const l of cla.endpoints)
      for (const e of l.lb_endpoints) now.add(e.endpoint?.address?.socket_address?.address ?? '');
    const before = this.endpoints.get(cla.cluster_name) ?? new Set<string>();
    const added = [...now].filter((a) => !before.has(a));
    const removed = [...before].filter((a) => !now.has(a));
    this.endpoints.set(cla.cluster_name, now);
    if (added.length > 0 || removed.length > 0) this.onChange(cla.cluster_name, added, removed, at);
  }
  get endpointCount(): number {
    let n = 0;
    for (const s of this.endpoints.values()) n += s.size;
    return n;
  }
}
