import type { DataIssue, InstanceSpec, ServicePortSpec } from '../../schemas/registry-event.ts';

/** The normalised, istio-valid state of one registry service, ready to become an event (any registry kind). */
export interface ServiceState {
  namespace: string;
  host: string;
  /** The registry's own name for the service (Dubbo interface or app, Consul service name). */
  registryService: string;
  ports: ServicePortSpec[];
  instances: InstanceSpec[];
  /** Registry data that was dropped or rewritten to make the state valid (logged, counted, carried in the event). */
  issues: DataIssue[];
}

/** Total order over instances so that the same observation always yields byte-identical events. */
export function sortInstances(list: InstanceSpec[]): InstanceSpec[] {
  const key = (i: InstanceSpec) =>
    `${i.address}|${Object.entries(i.ports)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}`;
  return [...list].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
