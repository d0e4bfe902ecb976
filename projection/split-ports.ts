import type { ResourceMeta } from '../schemas/mcp-envelope.ts';
import type { ServiceEntryBody } from '../schemas/service-entry/validate.ts';
import { portEntryName } from '../schemas/port-entry-name.ts';

/** A resource to publish: what `encodeServiceEntryAny` takes. */
export interface PublishedEntry {
  meta: ResourceMeta;
  body: ServiceEntryBody;
}

export interface PortSplit {
  /** The ServiceEntries that carry the host: the whole one, or the main one and one per port. */
  entries: PublishedEntry[];
  /** The port names of the per-port ServiceEntries published (split mode), or undefined (one ServiceEntry). */
  split: string[] | undefined;
}

/**
 * A per-port ServiceEntry is created this long after its host's main one: istiod takes the oldest ServiceEntry of a
 * host as the service (its index, and the first of a sidecar's merged ports), and it must be the one with every port.
 */
const PORT_ENTRY_CREATE_OFFSET_MS = 1000;

/**
 * How a host's ServiceEntry is published when some endpoints serve only some of its ports.
 *
 * istiod lists every endpoint of a ServiceEntry under every one of its ports, on the service port's number when the
 * endpoint names no port of its own. A Dubbo fleet part-way through a move to triple (some providers `dubbo://` only)
 * or two registries of one host with different protocols would have the new port's traffic sent to providers that
 * do not listen on it. istiod merges the ServiceEntries of one namespace and host (their ports in a sidecar's view,
 * their instances per port in EDS), so the host is published as a main ServiceEntry with every port and the
 * endpoints that serve them all, plus one ServiceEntry per port with the endpoints that serve that port but not all.
 *
 * Split mode is sticky (`sticky`: the host was split before): once split, the per-port entries stay, empty or not,
 * while the host has two ports or more. A two-protocol provider registers one URL per protocol and is seen with one
 * port first; without stickiness every restart would create and delete a ServiceEntry — a full push in istiod — where
 * moving an endpoint between entries that exist is an incremental EDS update.
 */
export function splitByPort(entry: PublishedEntry, sticky: boolean): PortSplit {
  const { body, meta } = entry;
  if (body.ports.length < 2) return { entries: [entry], split: undefined };
  const all = body.ports.length;
  const partial = body.endpoints.filter((ep) => Object.keys(ep.ports).length < all);
  if (partial.length === 0 && !sticky) return { entries: [entry], split: undefined };

  const entries: PublishedEntry[] = [
    { meta, body: { ...body, endpoints: body.endpoints.filter((ep) => Object.keys(ep.ports).length === all) } },
  ];
  for (const port of body.ports) {
    const endpoints: ServiceEntryBody['endpoints'] = [];
    for (const ep of partial) {
      const number = ep.ports[port.name];
      if (number !== undefined) endpoints.push({ ...ep, ports: { [port.name]: number } });
    }
    entries.push({
      meta: {
        ...meta,
        name: portEntryName(meta.name, port.name),
        createTimeMs: meta.createTimeMs + PORT_ENTRY_CREATE_OFFSET_MS,
      },
      body: { ...body, ports: [port], endpoints },
    });
  }
  return { entries, split: body.ports.map((p) => p.name) };
}
