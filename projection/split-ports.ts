import type { ResourceMeta } from '../schemas/mcp-envelope.ts';
import type { ServiceEntryBody } from '../schemas/service-entry/validate.ts';
import { everyPortEntryName, portEntryName } from '../schemas/port-entry-name.ts';
import type { ServiceFold } from './fold-state.ts';
import { mergePorts, servesSomePortsOnly } from './build-service-entry.ts';
import { withImplicitEndpointPorts } from '../schemas/service-entry/endpoint-ports.ts';

/** A resource to publish: what `encodeServiceEntryAny` takes. */
export interface PublishedEntry {
  meta: ResourceMeta;
  body: ServiceEntryBody;
}

/**
 * A per-port ServiceEntry is created this long after its host's every-port one: istiod takes the oldest ServiceEntry
 * of a host as the service (its index, the first of a sidecar's merged ports), and it must be the one with every port.
 */
const PORT_ENTRY_CREATE_OFFSET_MS = 1000;

/**
 * How a host's ServiceEntry is published: whole, or split by port when some endpoints serve only some of its ports;
 * either way with each endpoint's ports as served (below).
 *
 * istiod lists every endpoint of a ServiceEntry under every one of its ports, on the service port's number when the
 * endpoint names no port of its own: a Dubbo fleet part-way through a move to triple (some providers `dubbo://`
 * only), or two registries of one host with different protocols, would have the new port's traffic sent to providers
 * that do not listen on it. istiod merges the ServiceEntries of one namespace and host (their ports in a sidecar's
 * view, their instances per port in EDS), so such a host is published split: one ServiceEntry with every port and no
 * endpoint (the service), and one per port with every endpoint that serves that port.
 *
 * Why this shape: an endpoint never moves between entries. Gaining or losing a port adds it to or removes it from
 * that port's entry only, and istiod applies a config source's response entry by entry — an endpoint moved from one
 * entry to another could be pushed to sidecars missing for a moment. Going from whole to split (or back) renames the
 * entries instead, and istiod creates and updates a response's entries before it deletes the ones that left.
 *
 * Whether a host is split is decided per event, by `splitAfterChange`, and kept in its fold (`splitPorts`): the
 * ServiceEntries published are the ones `hostEntryNames` names for it.
 */
export function splitByPort(entry: PublishedEntry, split: boolean): PublishedEntry[] {
  const entries = split ? splitEntries(entry) : [entry];
  // As served: each endpoint names only the ports istiod cannot infer (schemas/service-entry/endpoint-ports.ts).
  return entries.map((e) => ({ meta: e.meta, body: withImplicitEndpointPorts(e.body) }));
}

function splitEntries(entry: PublishedEntry): PublishedEntry[] {
  const { body, meta } = entry;

  const entries: PublishedEntry[] = [
    { meta: { ...meta, name: everyPortEntryName(meta.name) }, body: { ...body, endpoints: [] } },
  ];
  for (const port of body.ports) {
    const endpoints: ServiceEntryBody['endpoints'] = [];
    for (const ep of body.endpoints) {
      const number = ep.ports?.[port.name];
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
  return entries;
}

/**
 * Whether a host is split after a change to its fold: once some endpoint served only some of its ports, for as long
 * as it has two ports or more (then its port names, else undefined). Sticky because a two-protocol provider
 * registers one URL per protocol and is seen with one port first: without it every restart would create and delete
 * ServiceEntries — a full push in istiod — where adding an endpoint to an entry is an incremental EDS update. Decided
 * per event (evolve), not per batch, so the published result does not depend on how events were batched.
 */
export function splitAfterChange(fold: ServiceFold): string[] | undefined {
  const ids = Object.keys(fold.sources);
  // The usual host: one source with one port.
  if (ids.length === 1 && fold.sources[ids[0]!]!.ports.length < 2) return undefined;
  const merged = mergePorts(fold);
  if (merged.ports.length < 2) return undefined;
  return fold.splitPorts || servesSomePortsOnly(fold, merged) ? merged.ports.map((p) => p.name) : undefined;
}
