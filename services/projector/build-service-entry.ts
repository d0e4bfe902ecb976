import type { ServicePortSpec } from '../../schemas/registry-event.ts';
import type { ResourceMeta } from '../../schemas/mcp-envelope.ts';
import type { ServiceFold } from './fold-state.ts';
import { validateServiceEntry, type ServiceEntryBody } from './validate-istio.ts';

const MESH_INTERNAL = 1;
const STATIC = 1;
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'meshbridge' };
export const SOURCES_ANNOTATION = 'meshbridge.io/sources';

export interface BuiltServiceEntry {
  meta: ResourceMeta;
  body: ServiceEntryBody;
  /** Merge decisions worth reporting (port conflicts between sources). */
  notes: string[];
}

export type BuildResult = { ok: true; value: BuiltServiceEntry } | { ok: false; problems: string[] };

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Builds the ServiceEntry of one mesh service from every source that feeds it, canonically ordered so equal input
 * gives equal bytes. Merge rule when sources disagree on a port: sources are taken in id order and the first one to
 * define a port name or number wins; the others' conflicting definitions are dropped and reported.
 */
export function buildServiceEntry(fold: ServiceFold): BuildResult {
  const sourceIds = Object.keys(fold.sources).sort(cmp);
  const notes: string[] = [];
  const byName = new Map<string, ServicePortSpec & { source: string }>();
  const byNumber = new Map<number, string>();
  for (const id of sourceIds) {
    for (const p of fold.sources[id]!.ports) {
      const have = byName.get(p.name);
      if (have) {
        if (have.number !== p.number || have.protocol !== p.protocol) {
          notes.push(`port ${p.name}: source ${id} says ${p.number}/${p.protocol}, kept ${have.number}/${have.protocol} from ${have.source}`);
        }
        continue;
      }
      const owner = byNumber.get(p.number);
      if (owner !== undefined) {
        notes.push(`port ${p.number}: source ${id} names it ${p.name}, kept ${owner}`);
        continue;
      }
      byName.set(p.name, { ...p, source: id });
      byNumber.set(p.number, p.name);
    }
  }
  const ports = [...byName.values()].sort((a, b) => a.number - b.number).map(({ number, protocol, name }) => ({ number, protocol, name }));

  const endpoints: ServiceEntryBody['endpoints'] = [];
  for (const id of sourceIds) {
    for (const inst of fold.sources[id]!.instances) {
      const epPorts = Object.fromEntries(Object.entries(inst.ports).filter(([n]) => byName.has(n)).sort(([a], [b]) => cmp(a, b)));
      if (Object.keys(epPorts).length === 0) continue;
      const labels = Object.fromEntries(Object.entries(inst.labels).sort(([a], [b]) => cmp(a, b)));
      endpoints.push({
        address: inst.address,
        ports: epPorts,
        labels,
        ...(inst.weight > 0 ? { weight: inst.weight } : {}),
        ...(inst.locality ? { locality: inst.locality } : {}),
      });
    }
  }
  endpoints.sort((a, b) => cmp(endpointKey(a), endpointKey(b)));

  const body: ServiceEntryBody = { hosts: [fold.host], ports, location: MESH_INTERNAL, resolution: STATIC, endpoints };
  const problems = validateServiceEntry(body);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      meta: {
        name: `${fold.namespace}/${fold.host}`,
        createTimeMs: fold.createTimeMs,
        labels: { ...MANAGED_BY },
        annotations: { [SOURCES_ANNOTATION]: sourceIds.join(',') },
      },
      body,
      notes,
    },
  };
}

function endpointKey(e: ServiceEntryBody['endpoints'][number]): string {
  return `${e.address}|${Object.entries(e.ports).map(([k, v]) => `${k}=${v}`).join(',')}|${e.labels['meshbridge.io/source'] ?? ''}`;
}
