/** TypeScript view of schemas/avro/registry-event.v1.avsc (the current reader schema). */
export type EventKind = 'SERVICE_STATE' | 'SERVICE_REMOVED' | 'RESYNC_END';

export interface ServicePortSpec { name: string; number: number; protocol: string }

export interface InstanceSpec {
  address: string;
  /** ServicePort name -> this instance's port. */
  ports: Record<string, number>;
  labels: Record<string, string>;
  weight: number;
  locality: string;
}

export interface DataIssue { field: string; value: string; reason: string; action: string }

export interface RegistryEvent {
  eventId: string;
  kind: EventKind;
  sourceId: string;
  sourceKind: string;
  collectorId: string;
  epoch: number;
  generation: string;
  /** Epoch milliseconds (timestamp-millis in the schema). */
  observedAt: number;
  namespace: string;
  host: string;
  registryService: string;
  orderToken: number | null;
  ports: ServicePortSpec[];
  instances: InstanceSpec[];
  issues: DataIssue[];
  /** RESYNC_END only: the service keys of this source in this partition that the resync observed. */
  resyncServices: string[];
  raw: string | null;
}
