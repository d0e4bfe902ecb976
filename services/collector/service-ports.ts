import type { DataIssue, InstanceSpec, ServicePortSpec } from '../../schemas/registry-event.ts';
import { dnsLabel } from './naming.ts';
import { sortInstances } from './service-state.ts';

/** One observed (port name, protocol, instance port) of a registry instance. */
export interface ObservedPort {
  name: string;
  protocol: string;
  port: number;
}

/**
 * The service ports of one registry service, from what its instances expose: one port per name, numbered by the
 * configured service port (when there is only one) or else the lowest instance port — stable under churn in the
 * usual fleet where every instance listens on the same port. Two names that end up on one number would be rejected
 * by istiod as duplicate ports: the first in name order is kept and the other reported.
 */
export function deriveServicePorts(
  observed: Iterable<ObservedPort>,
  configuredPort: number | undefined,
  issues: DataIssue[],
): ServicePortSpec[] {
  const byName = new Map<string, { protocol: string; numbers: number[] }>();
  for (const o of observed) {
    const entry = byName.get(o.name) ?? { protocol: o.protocol, numbers: [] };
    entry.numbers.push(o.port);
    byName.set(o.name, entry);
  }
  const ports = [...byName.entries()]
    .map(([name, { protocol, numbers }]) => ({
      name,
      number: byName.size === 1 && configuredPort ? configuredPort : Math.min(...numbers),
      protocol,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const seen = new Set<number>();
  return ports.filter((p) => {
    if (seen.has(p.number)) {
      issues.push({
        field: 'ports',
        value: `${p.name}:${p.number}`,
        reason: 'two protocols on the same service port number',
        action: 'port dropped',
      });
      return false;
    }
    seen.add(p.number);
    return true;
  });
}

/** A registry instance that serves one protocol on one port (Consul, Nacos), before the service's ports are chosen. */
export interface PortCandidate {
  address: string;
  port: number;
  protocol: string;
  labels: Record<string, string>;
  weight: number;
  locality: string;
}

/**
 * The service ports and endpoints of a registry service whose instances each serve one protocol on one port: one
 * service port per protocol, named by it (valid, unique, stable under churn); an instance whose protocol lost its port
 * (`deriveServicePorts`) is left out; one address:port seen twice (re-registered under a new ID, or in two clusters)
 * is one endpoint, the first.
 */
export function portsAndInstances(
  candidates: readonly PortCandidate[],
  configuredPort: number | undefined,
  issues: DataIssue[],
): { ports: ServicePortSpec[]; instances: InstanceSpec[] } {
  const ports = deriveServicePorts(
    candidates.map((c) => ({ name: dnsLabel(c.protocol), protocol: c.protocol, port: c.port })),
    configuredPort,
    issues,
  );
  const kept = new Set(ports.map((p) => p.name));
  const instances = new Map<string, InstanceSpec>();
  for (const c of candidates) {
    const name = dnsLabel(c.protocol);
    if (!kept.has(name)) continue;
    const key = `${c.address}|${name}|${c.port}`;
    if (!instances.has(key))
      instances.set(key, {
        address: c.address,
        ports: { [name]: c.port },
        labels: c.labels,
        weight: c.weight,
        locality: c.locality,
      });
  }
  return { ports, instances: sortInstances([...instances.values()]) };
}
