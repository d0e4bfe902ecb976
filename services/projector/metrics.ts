import { prom } from '../../services/shared/metrics.ts';
import type { Registry } from 'prom-client';

export function projectorMetrics(registry: Registry) {
  const r = { registers: [registry] };
  return {
    eventsApplied: new prom.Counter({
      name: 'meshbridge_projector_events_applied_total',
      help: 'Events folded into the snapshot',
      ...r,
    }),
    eventsIgnored: new prom.Counter({
      name: 'meshbridge_projector_events_ignored_total',
      help: 'Events ignored: stale-epoch, older-order-token, redelivered, removed-later, invalid, empty-identity',
      labelNames: ['reason'],
      ...r,
    }),
    deadLettered: new prom.Counter({
      name: 'meshbridge_projector_events_dead_lettered_total',
      help: 'Events sent to the dead-letter topic, by reason (undecodable, invalid)',
      labelNames: ['reason'],
      ...r,
    }),
    rejected: new prom.Counter({
      name: 'meshbridge_projector_resources_rejected_total',
      help: 'ServiceEntries not published because istiod would reject them',
      ...r,
    }),
    mergeConflicts: new prom.Counter({
      name: 'meshbridge_projector_merge_conflicts_total',
      help: 'ServiceEntry builds where a merge rule applied: sources disagree on a port, or report the same instance (logged)',
      ...r,
    }),
    portSplits: new prom.Counter({
      name: 'meshbridge_projector_port_splits_total',
      help: 'Hosts published split by port (to="split": some endpoints serve only some ports) or whole again (to="whole")',
      labelNames: ['to'],
      ...r,
    }),
    fenced: new prom.Counter({
      name: 'meshbridge_projector_commits_fenced_total',
      help: 'Batch commits refused because another replica moved the partition on (or a rebuild switched over)',
      ...r,
    }),
    resourcesWritten: new prom.Counter({
      name: 'meshbridge_projector_resources_written_total',
      help: 'Resources upserted/removed in Redis',
      labelNames: ['op'],
      ...r,
    }),
    snapshotVersion: new prom.Gauge({
      name: 'meshbridge_projector_snapshot_version',
      help: 'Global snapshot version after the last commit',
      ...r,
    }),
    resources: new prom.Gauge({
      name: 'meshbridge_projector_resources',
      help: 'Resources in the snapshot after the last commit',
      ...r,
    }),
    ownedPartitions: new prom.Gauge({
      name: 'meshbridge_projector_partitions_owned',
      help: 'Partitions assigned to this replica',
      ...r,
    }),
    lag: new prom.Gauge({
      name: 'meshbridge_projector_lag_events',
      help: 'Events behind the partition high watermark after the last batch',
      labelNames: ['partition'],
      ...r,
    }),
    committedOffset: new prom.Gauge({
      name: 'meshbridge_projector_committed_offset',
      help: 'Next offset to consume, as committed to Redis',
      labelNames: ['partition'],
      ...r,
    }),
    batchSize: new prom.Histogram({
      name: 'meshbridge_projector_batch_events',
      help: 'Events per batch',
      buckets: [1, 10, 100, 500, 1000, 5000, 10000],
      ...r,
    }),
    batchSeconds: new prom.Histogram({
      name: 'meshbridge_projector_batch_seconds',
      help: 'Decode + fold + commit time per batch',
      buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2],
      ...r,
    }),
    commitSeconds: new prom.Histogram({
      name: 'meshbridge_projector_commit_seconds',
      help: 'Redis commit (one Lua script) time per batch',
      buckets: [0.0005, 0.001, 0.005, 0.02, 0.05, 0.1, 0.5],
      ...r,
    }),
    commitBytes: new prom.Histogram({
      name: 'meshbridge_projector_commit_bytes',
      help: 'Bytes sent to Redis per batch commit',
      buckets: [1e3, 1e4, 1e5, 1e6, 1e7],
      ...r,
    }),
  };
}
export type ProjectorMetrics = ReturnType<typeof projectorMetrics>;
