import { prom } from '../../services/shared/metrics.ts';
import type { Registry } from 'prom-client';

export function collectorMetrics(registry: Registry) {
  const r = { registers: [registry] };
  return {
    watchEvents: new prom.Counter({
      name: 'meshbridge_collector_watch_events_total',
      help: 'Registry watch notifications',
      labelNames: ['source', 'kind'],
      ...r,
    }),
    published: new prom.Counter({
      name: 'meshbridge_collector_events_published_total',
      help: 'Events appended to Kafka',
      labelNames: ['source', 'kind'],
      ...r,
    }),
    publishSeconds: new prom.Histogram({
      name: 'meshbridge_collector_publish_seconds',
      help: 'Kafka append latency',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      ...r,
    }),
    resyncSeconds: new prom.Histogram({
      name: 'meshbridge_collector_resync_seconds',
      help: 'Full resync duration',
      labelNames: ['source'],
      buckets: [0.01, 0.1, 1, 5, 30, 120],
      ...r,
    }),
    resyncs: new prom.Counter({
      name: 'meshbridge_collector_resyncs_total',
      help: 'Full resyncs',
      labelNames: ['source', 'reason'],
      ...r,
    }),
    resyncKeys: new prom.Counter({
      name: 'meshbridge_collector_resync_keys_total',
      help:
        'Registry services a full resync went through, by how: read (read and normalised again) or unchanged ' +
        '(a periodic resync found the ZooKeeper providers node unchanged since its last read)',
      labelNames: ['source', 'how'],
      ...r,
    }),
    // Per source, never per service: a registry of 10,000 services must not become 10,000 series.
    services: new prom.Gauge({
      name: 'meshbridge_collector_services',
      help: 'Mesh hosts this replica last published for the source',
      labelNames: ['source'],
      ...r,
    }),
    instances: new prom.Gauge({
      name: 'meshbridge_collector_instances',
      help: 'Instances in the states this replica last published for the source',
      labelNames: ['source'],
      ...r,
    }),
    // Labels from a fixed vocabulary (problems.ts): field path without identifiers, reason code. Counted once when a
    // problem appears, not on every re-read; the gauge is what is wrong now (details on /debug/problems).
    rejectedData: new prom.Counter({
      name: 'meshbridge_collector_rejected_data_total',
      help: 'Registry data problems that appeared (dropped or rewritten by normalisation, merged hosts)',
      labelNames: ['source', 'kind', 'field', 'reason'],
      ...r,
    }),
    problems: new prom.Gauge({
      name: 'meshbridge_collector_data_problems',
      help: 'Registry data problems present now',
      labelNames: ['source', 'kind', 'field', 'reason'],
      ...r,
    }),
    collisions: new prom.Gauge({
      name: 'meshbridge_collector_host_collisions',
      help: 'Mesh hosts fed by several registry services of one source (merged)',
      labelNames: ['source'],
      ...r,
    }),
    sessionState: new prom.Gauge({
      name: 'meshbridge_collector_registry_connected',
      help: '1 when connected to the registry',
      labelNames: ['source'],
      ...r,
    }),
    queueSeconds: new prom.Histogram({
      name: 'meshbridge_collector_publish_queue_seconds',
      help: 'Time from an event being queued to Kafka acknowledging it',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
      ...r,
    }),
    emptyProtected: new prom.Counter({
      name: 'meshbridge_collector_empty_protected_total',
      help: 'Empty observations held back by emptyProtection: keep-last',
      labelNames: ['source'],
      ...r,
    }),
    leader: new prom.Gauge({
      name: 'meshbridge_collector_leader',
      help: '1 while this replica publishes for the source',
      labelNames: ['source'],
      ...r,
    }),
    leaderEpoch: new prom.Gauge({
      name: 'meshbridge_collector_leader_epoch',
      help: "Fencing epoch of this replica's current leadership",
      labelNames: ['source'],
      ...r,
    }),
    leaderTransitions: new prom.Counter({
      name: 'meshbridge_collector_leader_transitions_total',
      help: 'Leadership gained or lost',
      labelNames: ['source', 'to'],
      ...r,
    }),
    leaseKeptByBackground: new prom.Counter({
      name: 'meshbridge_collector_lease_kept_by_background_total',
      help:
        "Times the main thread's own lease deadline passed while the background thread had renewed the lease: " +
        'the main thread was held up for longer than the lease (a long read or garbage collection)',
      labelNames: ['source'],
      ...r,
    }),
    errors: new prom.Counter({
      name: 'meshbridge_collector_errors_total',
      help: 'Errors while reading the registry or publishing',
      labelNames: ['source', 'stage'],
      ...r,
    }),
  };
}
export type CollectorMetrics = ReturnType<typeof collectorMetrics>;
