import { prom } from '../../services/shared/metrics.ts';
import type { Registry } from 'prom-client';

export function gatewayMetrics(registry: Registry) {
  const r = { registers: [registry] };
  /** Filled in by whoever owns the streams; read at scrape time. */
  const probes = {
    maxAckedLag: (): number => 0,
    served: (): { version: number; size: number; complete: boolean } | undefined => undefined,
    headVersion: (): number => 0,
  };
  return {
    probes,
    streams: new prom.Gauge({ name: 'meshbridge_gateway_streams', help: 'Connected istiod ADS streams', ...r }),
    pushes: new prom.Counter({
      name: 'meshbridge_gateway_pushes_total',
      help: 'DiscoveryResponses sent, by type: a served kind, other (the empty answer of an unserved type) or padding (istiod buffer padding)',
      labelNames: ['type'],
      ...r,
    }),
    pushBytes: new prom.Counter({
      name: 'meshbridge_gateway_push_bytes_total',
      help: 'Bytes of DiscoveryResponses sent',
      ...r,
    }),
    pushSeconds: new prom.Histogram({
      name: 'meshbridge_gateway_push_seconds',
      help: 'Server time to assemble and write one response',
      buckets: [0.0001, 0.001, 0.005, 0.02, 0.05, 0.2],
      ...r,
    }),
    changeToPushSeconds: new prom.Histogram({
      name: 'meshbridge_gateway_change_to_push_seconds',
      help: 'Time from reading a change record from Redis to the push leaving the gateway (includes the debounce)',
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2],
      ...r,
    }),
    ackSeconds: new prom.Histogram({
      name: 'meshbridge_gateway_ack_seconds',
      help: 'Time from a response to its ACK',
      buckets: [0.001, 0.01, 0.1, 0.5, 2, 10],
      ...r,
    }),
    acks: new prom.Counter({ name: 'meshbridge_gateway_acks_total', help: 'ACKs received', ...r }),
    nacks: new prom.Counter({ name: 'meshbridge_gateway_nacks_total', help: 'Requests carrying error_detail', ...r }),
    // Read at scrape time: the snapshot is built when it is served or scraped, not per change record.
    snapshotVersion: new prom.Gauge({
      name: 'meshbridge_gateway_snapshot_version',
      help: 'Snapshot version served',
      ...r,
      collect() {
        this.set(probes.served()?.version ?? 0);
      },
    }),
    redisLag: new prom.Gauge({
      name: 'meshbridge_gateway_versions_behind_redis',
      help: 'Versions between Redis head and the served snapshot',
      ...r,
      collect() {
        this.set(Math.max(0, probes.headVersion() - (probes.served()?.version ?? 0)));
      },
    }),
    // The alert "no complete snapshot" (deploy/helm/meshbridge PrometheusRule): served kinds are withheld until 1.
    snapshotComplete: new prom.Gauge({
      name: 'meshbridge_gateway_snapshot_complete',
      help: '1 when the served snapshot is complete',
      ...r,
      collect() {
        this.set(probes.served()?.complete ? 1 : 0);
      },
    }),
    ackedLag: new prom.Gauge({
      name: 'meshbridge_gateway_acked_version_lag',
      help: 'Largest gap between the served snapshot version and the version an istiod acknowledged (served types)',
      ...r,
      collect() {
        this.set(probes.maxAckedLag());
      },
    }),
    resources: new prom.Gauge({
      name: 'meshbridge_gateway_resources',
      help: 'Resources in the served snapshot',
      ...r,
      collect() {
        this.set(probes.served()?.size ?? 0);
      },
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
