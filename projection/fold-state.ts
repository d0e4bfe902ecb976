import type { InstanceSpec, RegistryEvent, ServicePortSpec } from '../schemas/registry-event.ts';

/** Fields of an event the fold never reads: audit data (the raw registry payload), data issues, who published it. */
export const UNUSED_BY_FOLD = ['raw', 'issues', 'generation', 'collectorId', 'collectorVersion'] as const;
/** What the fold reads of an event. Any RegistryEvent is one. */
export type FoldEvent = Omit<RegistryEvent, (typeof UNUSED_BY_FOLD)[number]>;

/** What one source says about one mesh service. */
export interface SourceContribution {
  sourceKind: string;
  registryService: string;
  ports: ServicePortSpec[];
  instances: InstanceSpec[];
  orderToken: number | null;
  epoch: number;
  /** Publisher sequence number of the event this contribution came from (0: unknown, a v1/v2 event). */
  seq?: number;
  eventId: string;
  observedAt: number;
}

/** The folded state of one mesh service (namespace/host), merged over every source that feeds it. */
export interface ServiceFold {
  namespace: string;
  host: string;
  /** Observation time of the event that first created the service: a stable create_time, equal on every replay. */
  createTimeMs: number;
  sources: Record<string, SourceContribution>;
  /**
   * The host's port names while it is published split by port (projection/split-ports.ts: one ServiceEntry per port
   * and one with every port), absent while it is one ServiceEntry. Set per event by evolve (`splitAfterChange`); kept
   * with the fold because the split is sticky, and it names what to delete when the host goes or is whole again.
   */
  splitPorts?: string[];
}

/**
 * What the fold remembers of a source's contribution it removed: the publisher epoch and sequence number of the
 * removal, so a late re-delivery of an older event of that publisher cannot revive the service (older epochs are
 * fenced anyway), and when (event time) for pruning.
 */
export interface Tombstone {
  epoch: number;
  seq: number;
  at: number;
}

/** How long a tombstone is kept, in event time: pruned by the source's next re-read marker after that. */
export const TOMBSTONE_TTL_MS = 3_600_000;

/** The fold of one Kafka partition. Every mesh service lives in exactly one partition (events are keyed by it). */
export interface PartitionState {
  services: Map<string, ServiceFold>;
  /** Newest publisher epoch seen per source; older epochs are fenced. */
  epochs: Map<string, number>;
  /** `${source}|${service key}` -> tombstone of a removed contribution (see Tombstone). */
  tombstones: Map<string, Tombstone>;
}

export const emptyPartitionState = (): PartitionState => ({
  services: new Map(),
  epochs: new Map(),
  tombstones: new Map(),
});

export const tombstoneKey = (sourceId: string, key: string) => `${sourceId}|${key}`;

export const serviceKey = (namespace: string, host: string) => `${namespace}/${host}`;

/** The inverse of serviceKey (also a ServiceEntry's resource name): namespaces have no `/`, hosts neither. */
export function splitServiceKey(key: string): { namespace: string; host: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), host: key.slice(slash + 1) };
}
