import YAML from 'yaml';
import { splitServiceKey } from '../../projection/fold-state.ts';
import { decodeResource } from '../../schemas/mcp-envelope.ts';
import { endpointPortsAsIstiodReads } from '../../schemas/service-entry/endpoint-ports.ts';

/** A ServiceEntry as `kubectl get serviceentry -o yaml` shows it (the GVK istiod ≥1.24 asks for). */
export interface KubeServiceEntry {
  apiVersion: 'networking.istio.io/v1';
  kind: 'ServiceEntry';
  metadata: {
    annotations?: Record<string, string>;
    creationTimestamp: string;
    labels?: Record<string, string>;
    name: string;
    namespace: string;
    /** MCP metadata.version: the content hash istiod compares. */
    resourceVersion: string;
  };
  spec: Record<string, unknown>;
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** protobufjs (keepCase) objects use proto field names; the Kubernetes API uses their JSON (camelCase) names. */
function toJsonNames(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toJsonNames);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [camel(k), toJsonNames(x)]));
  }
  return v;
}

/**
 * Decodes one stored resource (MCP Any bytes) into the object istiod builds from it. Each endpoint lists its port for
 * every port of the entry, as istiod reads them: the served bytes leave out those on the service port's own number
 * (schemas/service-entry/endpoint-ports.ts), and snapshots written before that named them all — both read the same.
 */
export function toKubeObject(any: Uint8Array): KubeServiceEntry {
  const r = decodeResource(any);
  const { namespace, host: name } = splitServiceKey(r.name);
  const metadata: KubeServiceEntry['metadata'] = {
    ...(Object.keys(r.annotations).length > 0 ? { annotations: r.annotations } : {}),
    // Kubernetes shows creation times at second precision, like istiod's own view of an MCP object.
    creationTimestamp: new Date(Math.floor(r.createTimeMs / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    ...(Object.keys(r.labels).length > 0 ? { labels: r.labels } : {}),
    name,
    namespace,
    resourceVersion: r.version,
  };
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata,
    spec: withEndpointPorts(toJsonNames(r.body) as Record<string, unknown>),
  };
}

type Spec = { ports?: { name: string; number: number; targetPort?: number }[]; endpoints?: Record<string, unknown>[] };

function withEndpointPorts(spec: Spec): Record<string, unknown> {
  const { ports, endpoints } = spec;
  if (!ports || !endpoints) return spec;
  return {
    ...spec,
    endpoints: endpoints.map(({ address, ports: own, ...rest }) => ({
      address,
      ports: endpointPortsAsIstiodReads(ports, own as Record<string, number> | undefined),
      ...rest,
    })),
  };
}

/** A snapshot's resources as a Kubernetes List, sorted by namespace and name like kubectl's output. */
export function toKubeList(resources: Map<string, Buffer>): {
  apiVersion: 'v1';
  items: KubeServiceEntry[];
  kind: 'List';
  metadata: { resourceVersion: string };
} {
  const items = [...resources.values()]
    .map(toKubeObject)
    .sort((a, b) =>
      a.metadata.namespace + '/' + a.metadata.name < b.metadata.namespace + '/' + b.metadata.name ? -1 : 1,
    );
  return { apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } };
}

/** YAML with a comment header (provenance: topic, cut, version), in kubectl's layout. */
export function renderYaml(resources: Map<string, Buffer>, header: string[]): string {
  const doc = new YAML.Document(toKubeList(resources));
  doc.commentBefore = header.map((l) => ` ${l}`).join('\n');
  return doc.toString({ lineWidth: 0, indentSeq: false });
}
