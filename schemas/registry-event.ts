/**
 * TypeScript view of schemas/avro/registry-event.v2.avsc (the current reader schema). Fields added in v2 are optional
 * here: writers may omit them (avsc encodes the schema default), and every decoded event has them (v1 bytes resolve
 * to the default).
 */
export type EventKind = 'SERVICE_STATE' | 'SERVICE_REMOVED' | 'RESYNC_END';

export interface ServicePortSpec {
  name: string;
  number: number;
  protocol: string;
}

export interface InstanceSpec {
  address: string;
  /** ServicePort name -> this instance's port. */
  ports: Record<string, number>;
  labels: Record<string, string>;
  weight: number;
  locality: string;
  /** v2: registry attributes kept for audits, not endpoint labels; never sent to istiod. Default {}. */
  metadata?: Record<string, string>;
}

export interface DataIssue {
  field: string;
  value: string;
  reason: string;
  action: string;
}

export interface RegistryEvent {
  eventId: string;
  kind: EventKind;
  sourceId: string;
  sourceKind: string;
  collectorId: string;
  /** v2: meshbridge version of the publishing collector; '' when unknown (every v1 event). */
  collectorVersion?: string;
  epoch: number;
  /** v3: the publisher's sequence number within its epoch (grows in the order it wrote events); 0 when unknown. */
  seq?: number;
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
