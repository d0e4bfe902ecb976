/**
 * Names of the per-port ServiceEntries a host is split into when some of its endpoints serve only some of its ports
 * (projection/split-ports.ts). The projector writes them; the gateway shards them with their host; status and audit
 * count them as the host's.
 */

/** Between a host's resource name and a port name: hosts and namespaces cannot hold it, so no name collides. */
export const PORT_ENTRY_SEPARATOR = '~';

/** The resource name ("namespace/name") of a host's ServiceEntry for one of its ports. */
export const portEntryName = (name: string, portName: string) => `${name}${PORT_ENTRY_SEPARATOR}${portName}`;

/** The resource name of the host a ServiceEntry belongs to: its own, unless it is a per-port one. */
export function hostEntryName(name: string): string {
  const at = name.indexOf(PORT_ENTRY_SEPARATOR);
  return at < 0 ? name : name.slice(0, at);
}
