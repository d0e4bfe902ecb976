import { parseResourceField } from '../../snapshot-store/resource-field.ts';
import { toKubeObject, type KubeServiceEntry } from './render-yaml.ts';

export interface Endpoint {
  address: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  weight?: number;
  locality?: string;
}

export interface EndpointChange {
  endpoint: string;
  /** Label or attribute -> [before, after]; undefined = absent. */
  changes: Record<string, [string | undefined, string | undefined]>;
}

export interface ServiceChange {
  /** Resource field, "ServiceEntry|namespace/host". */
  resource: string;
  kind: 'created' | 'removed' | 'changed' | 'unchanged';
  /** Service-level fields that changed (hosts, ports, resolution, ...) with before/after as JSON. */
  service: Record<string, [string | undefined, string | undefined]>;
  added: Endpoint[];
  removed: Endpoint[];
  changed: EndpointChange[];
  /** Changes outside the spec (annotations, labels, create time) — still bytes istiod receives. */
  metadata: Record<string, [string | undefined, string | undefined]>;
}

/**
 * Endpoint identity: address and the instance's ports. A provider that moves to another port is a different
 * instance (removed + added); the same instance with new labels, weight or locality is a change.
 */
export function endpointId(e: Endpoint): string {
  const ports = Object.entries(e.ports ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([n, p]) => `${n}=${p}`)
    .join(',');
  return `${e.address}${ports ? ` ${ports}` : ''}`;
}

const json = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));

function fieldDiff(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  skip: string[] = [],
): Record<string, [string | undefined, string | undefined]> {
  const out: Record<string, [string | undefined, string | undefined]> = {};
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (skip.includes(k)) continue;
    const x = json(a[k]);
    const y = json(b[k]);
    if (x !== y) out[k] = [x, y];
  }
  return out;
}

function endpointAttrs(e: Endpoint): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.labels ?? {})) out[`label ${k}`] = v;
  if (e.weight !== undefined) out.weight = String(e.weight);
  if (e.locality !== undefined) out.locality = e.locality;
  return out;
}

/** Instance-level difference between two versions of one ServiceEntry (either may be absent). */
export function diffServiceEntry(
  resource: string,
  before: KubeServiceEntry | undefined,
  after: KubeServiceEntry | undefined,
): ServiceChange {
  const eps = (se: KubeServiceEntry | undefined) =>
    new Map(((se?.spec.endpoints as Endpoint[] | undefined) ?? []).map((e) => [endpointId(e), e]));
  const a = eps(before);
  const b = eps(after);
  const change: ServiceChange = {
    resource,
    kind: !before && after ? 'created' : before && !after ? 'removed' : 'unchanged',
    service: fieldDiff(before?.spec ?? {}, after?.spec ?? {}, ['endpoints']),
    added: [...b].filter(([id]) => !a.has(id)).map(([, e]) => e),
    removed: [...a].filter(([id]) => !b.has(id)).map(([, e]) => e),
    changed: [],
    metadata:
      before && after
        ? fieldDiff(
            {
              annotations: before.metadata.annotations,
              labels: before.metadata.labels,
              creationTimestamp: before.metadata.creationTimestamp,
            },
            {
              annotations: after.metadata.annotations,
              labels: after.metadata.labels,
              creationTimestamp: after.metadata.creationTimestamp,
            },
          )
        : {},
  };
  for (const [id, ea] of a) {
    const eb = b.get(id);
    if (!eb) continue;
    const changes = fieldDiff(endpointAttrs(ea), endpointAttrs(eb));
    if (Object.keys(changes).length > 0) {
      // Attribute values are plain strings here: drop the JSON quoting fieldDiff adds.
      const plain = Object.fromEntries(
        Object.entries(changes).map(([k, [x, y]]) => [k, [x && JSON.parse(x), y && JSON.parse(y)]]),
      ) as EndpointChange['changes'];
      change.changed.push({ endpoint: id, changes: plain });
    }
  }
  if (
    change.kind === 'unchanged' &&
    (Object.keys(change.service).length ||
      change.added.length ||
      change.removed.length ||
      change.changed.length ||
      Object.keys(change.metadata).length)
  ) {
    change.kind = 'changed';
  }
  return change;
}

/** Every resource that differs between two snapshots (resource field -> MCP bytes), in name order. */
export function diffSnapshots(a: Map<string, Buffer>, b: Map<string, Buffer>): ServiceChange[] {
  const out: ServiceChange[] = [];
  for (const field of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(field);
    const y = b.get(field);
    if (x && y && x.equals(y)) continue;
    out.push(diffServiceEntry(field, x && toKubeObject(x), y && toKubeObject(y)));
  }
  return out;
}

export const resourceName = (field: string) => parseResourceField(field).name;
