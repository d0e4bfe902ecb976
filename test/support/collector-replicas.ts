// Collector replicas live in the harness (shared with the failover benchmark); tests import them from here.
export { CollectorReplicas, type Replica, type SourceStatus } from '../../harness/collector-replicas.ts';
