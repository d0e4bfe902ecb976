/**
 * Names of the ServiceEntries a host is split into when some of its endpoints serve only some of its ports
 * (projection/split-ports.ts): `<namespace>/<host>~*` with every port and no endpoint, and `<namespace>/<host>~<port
 * name>` per port. The projector writes them; the gateway shards them with their host; status and audit count them
 * as the host's.
 */

/** Between a host's resource name and a port name: hosts and namespaces cannot hold it, so no name collides. */
const PORT_ENTRY_SEPARATOR = '~';

/** Stands for "every port" where a port name goes: not a DNS label, so no port is named so. */
const EVERY_PORT = '*';

/** The resource name ("namespace/name") of a split host's ServiceEntry for one of its ports. */
export const portEntryName = (name: string, portName: string) => `${name}${PORT_ENTRY_SEPARATOR}${portName}`;

/** The resource name of a split host's ServiceEntry with every port (and no endpoint). */
export const everyPortEntryName = (name: string) => portEntryName(name, EVERY_PORT);

/** The resource name of the host a ServiceEntry belongs to: its own, unless it is one of a split host's. */
export function hostEntryName(name: string): string {
  const at = name.indexOf(PORT_ENTRY_SEPARATOR);
  return at < 0 ? name : name.slice(0, at);
}

/** Every resource name a host is published under: its own, or (split, with these port names) the split ones. */
export const hostEntryNames = (name: string, split: readonly string[] | undefined): string[] =>
  split ? [everyPortEntryName(name), ...split.map((p) => portEntryName(name, p))] : [name];
