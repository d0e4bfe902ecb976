import type { ServiceEntryBody } from './validate.ts';

type Endpoint = ServiceEntryBody['endpoints'][number];
type ServicePort = ServiceEntryBody['ports'][number];

/**
 * The ServiceEntry as istiod is served it: each endpoint names only the ports it serves on a number other than the
 * service port's own. istiod takes an endpoint's port from its `ports` map, else from the service port's `targetPort`
 * (meshbridge never sets one), else the service port's number (`convertWorkloadInstanceToServiceInstance`), so an
 * entry equal to that number says nothing istiod would not infer. In the usual fleet every instance listens on the
 * service's port (docs/projector.md), and the map — one more protobuf map per endpoint that istiod decodes on every
 * push and keeps decoded in its config store — goes away entirely.
 *
 * Applied by `splitByPort` (projection/split-ports.ts) to every entry it publishes, after the split, which reads
 * which ports an endpoint serves from its full map. Returns the body itself when nothing is left out.
 */
export function withImplicitEndpointPorts(body: ServiceEntryBody): ServiceEntryBody {
  let changed = false;
  const endpoints = body.endpoints.map((ep): Endpoint => {
    const ports = explicitPorts(body.ports, ep.ports);
    if (ports === ep.ports) return ep;
    changed = true;
    const { ports: _dropped, ...rest } = ep;
    return ports === undefined ? rest : { ...rest, ports };
  });
  return changed ? { ...body, endpoints } : body;
}

/** The entries of `ports` whose number is not the service port's own; `ports` itself when that is all of them. */
function explicitPorts(
  servicePorts: readonly ServicePort[],
  ports: Record<string, number> | undefined,
): Record<string, number> | undefined {
  if (ports === undefined) return undefined;
  let out: Record<string, number> | undefined;
  let dropped = false;
  for (const name in ports) {
    const number = ports[name]!;
    if (servicePorts.some((p) => p.name === name && p.number === number)) {
      dropped = true;
      continue;
    }
    out ??= {};
    out[name] = number;
  }
  return dropped ? out : ports;
}

/**
 * An endpoint's port for every port of its ServiceEntry, as istiod reads them (the inverse of
 * `withImplicitEndpointPorts` for the entries meshbridge publishes, whose every endpoint serves every port of its
 * entry): what the audit tools compare, so an entry served with or without explicit numbers compares the same.
 */
export function endpointPortsAsIstiodReads(
  servicePorts: readonly { name: string; number: number; targetPort?: number }[],
  ports: Record<string, number> | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of servicePorts) out[p.name] = ports?.[p.name] || p.targetPort || p.number;
  return out;
}
