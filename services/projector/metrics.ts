import { prom } from '../shared/metrics.ts';
import type { Registry } from 'prom-client';

export function projectorMetrics(registry: Registry) {
  const r = { registers: [registry] };
  return {
    eventsApplied: new prom.Counter({ name: 'meshbridge_projector_events_applied_total', help: 'Events folded into the snapshot', ...r }),
    eventsIgnored: new prom.Counter({ name: 'meshbridge_projector_events_ignored_total', help: 'Events ignored (stale epoch, older order token)', labelNames: ['reason'], ...r }),
    deadLettered: new prom.Counter({ name: 'meshbridge_projector_events_dead_lettered_total', help: 'Undecodable events sent to the dead-letter topic', ...r }),
    rejected: new prom.Counter({ name: 'meshbridge_projector_resources_rejected_total', help: 'ServiceEntries not published because istiod would reject them', ...r }),
    fenced: new prom.Counter({ name: 'meshbridge_projector_commits_fenced_total', help: 'Batch commits refused because another replica moved the partition on', ...r }),
    resourcesWritten: new prom.Counter({ name: 'meshbridge_projector_resources_written_total', help: 'Resources upserted/removed in Redis', labelNames: ['op'], ...r }),
    snapshotVersion: new prom.Gauge({ name: 'meshbridge_projector_snapshot_version', help: 'Global snapshot version after the last commit', ...r }),
    ownedPartitions: new prom.Gauge({ name: 'meshbridge_projector_partitions_owned', help: 'Partitions assigned to this replica', ...r }),
    lag: new prom.Gauge({ name: 'meshbridge_projector_lag_events', help: 'Events behind the partition high watermark', labelNames: ['partition'], ...r }),
    batchSize: new prom.Histogram({ name: 'meshbridge_projector_batch_events', help: 'Events per batch', buckets: [1, 10, 100, 1000, 10000], ...r }),
    batchSeconds: new prom.Histogram({ name: 'meshbridge_projector_batch_seconds', help: 'Fold + commit time per batch', buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2], ...r }),
  };
}
export type ProjectorMetrics = ReturnType<typeof projectorMetrics>;
