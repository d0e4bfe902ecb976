import type { DataIssue, ServicePortSpec } from '../../schemas/registry-event.ts';

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
