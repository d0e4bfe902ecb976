import type { DataIssue, InstanceSpec, ServicePortSpec } from '../../schemas/registry-event.ts';
import { sortInstances, type ServiceState } from './service-state.ts';

/** One registry key's normalised state, as one contribution to a mesh host. */
export interface KeyedState {
  key: string;
  state: ServiceState;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The state of one mesh host fed by several registry keys of one source (e.g. Dubbo interfaces `a.Outer$Inner` and
 * `a.outer$inner`, which both normalise to host `a.outer-inner`): one service whose endpoints are the union of every
 * key's endpoints, so neither key hides the other and removing one removes only its endpoints.
 *
 * Deterministic whatever the order of arrival: keys are taken in name order; the first to define a port name or
 * number wins (the same rule the projector applies across sources), and a later key's conflicting port is dropped
 * and reported (`hostIssues`, also appended to the state's issues), together with its endpoints' use of it. An endpoint seen under several keys (one process serving
 * both interfaces) is listed once, as the first key has it. With a single key the state is returned unchanged.
 */
export function mergeHostStates(contributions: KeyedState[]): { state: ServiceState; hostIssues: DataIssue[] } {
  if (contributions.length === 1) return { state: contributions[0]!.state, hostIssues: [] };
  const sorted = [...contributions].sort((a, b) => cmp(a.key, b.key));
  const first = sorted[0]!.state;
  const keyIssues: DataIssue[] = [];
  const issues: DataIssue[] = [];
  const byName = new Map<string, ServicePortSpec & { key: string }>();
  const byNumber = new Map<number, string>();
  for (const { key, state } of sorted) {
    keyIssues.push(...state.issues);
    for (const p of state.ports) {
      const have = byName.get(p.name);
      if (have) {
        if (have.number !== p.number || have.protocol !== p.protocol) {
          issues.push({
            field: 'ports',
            value: `${p.name}:${p.number}/${p.protocol}`,
            reason: `registry service ${key} conflicts with ${have.key} on one mesh host`,
            action: `kept ${have.number}/${have.protocol} from ${have.key}`,
          });
        }
        continue;
      }
      const owner = byNumber.get(p.number);
      if (owner !== undefined) {
        issues.push({
          field: 'ports',
          value: `${p.name}:${p.number}`,
          reason: `registry service ${key} conflicts with port ${owner} on one mesh host`,
          action: 'port dropped',
        });
        continue;
      }
      byName.set(p.name, { ...p, key });
      byNumber.set(p.number, p.name);
    }
  }
  const seen = new Set<string>();
  const instances: InstanceSpec[] = [];
  for (const { state } of sorted) {
    for (const inst of state.instances) {
      const ports = Object.fromEntries(Object.entries(inst.ports).filter(([n]) => byName.has(n)));
      if (Object.keys(ports).length === 0 && Object.keys(inst.ports).length > 0) continue;
      const id = `${inst.address}|${Object.entries(ports)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`;
      if (seen.has(id)) continue;
      seen.add(id);
      instances.push({ ...inst, ports });
    }
  }
  const keys = sorted.map((c) => c.key);
  issues.push({
    field: 'registryService',
    value: keys.join(',').slice(0, 256),
    reason: `${keys.length} registry services map to mesh host ${first.host}`,
    action: 'merged: endpoints are the union, ports by the first service in name order',
  });
  const state: ServiceState = {
    namespace: first.namespace,
    host: first.host,
    registryService: keys.join(','),
    ports: [...byName.values()]
      .sort((a, b) => cmp(a.name, b.name))
      .map(({ name, number, protocol }) => ({ name, number, protocol })),
    instances: sortInstances(instances),
    issues: [...keyIssues, ...issues],
  };
  return { state, hostIssues: issues };
}
