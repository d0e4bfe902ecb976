import type { InstanceSpec, RegistryEvent, ServicePortSpec } from '../../schemas/registry-event.ts';

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
}

/** The fold of one Kafka partition. Every mesh service lives in exactly one partition (events are keyed by it). */
export interface PartitionState {
  services: Map<string, ServiceFold>;
  /** Newest publisher epoch seen per source; older epochs are fenced. */
  epochs: Map<string, number>;
}

export const emptyPartitionState = (): PartitionState => ({ services: new Map(), epochs: new Map() });

export const serviceKey = (namespace: string, host: string) => `${namespace}/${host}`;
