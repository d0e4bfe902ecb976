import type { InstanceSpec, ServicePortSpec } from './registry-event.ts';

/**
 * What a complete, one-shot read of a registry says the collector would publish (`meshbridge verify --registry`):
 * the collector produces it with its own adapters and decider, audit compares it with the live snapshot. The
 * empty-instance protection rule is here because both sides must apply it alike.
 */

/** One mesh host as the registry's collector would publish it now. */
export interface ExpectedHost {
  namespace: string;
  host: string;
  /** Registry key(s) behind it, comma-separated when several keys merge into one host. */
  registryService: string;
  ports: ServicePortSpec[];
  instances: InstanceSpec[];
}

/** A complete read of one configured registry. */
export interface RegistryRead {
  sourceId: string;
  kind: string;
  emptyProtection: EmptyPolicy;
  /** Registry keys read (Dubbo interfaces or applications, Consul services). */
  registryServices: number;
  /** Mesh key (namespace/host) -> what the collector would publish. */
  hosts: Map<string, ExpectedHost>;
}

/** Reads one configured source's registry completely; rejects with RegistryUnreadable when it cannot. */
export type RegistryReader<Source> = (src: Source) => Promise<RegistryRead>;

/**
 * Empty-instance protection: what to do when a service that had instances suddenly reports none. A registry that
 * loses its data (a misbehaving Consul agent, a ZooKeeper cluster restored empty, a mass session loss) would
 * otherwise take every endpoint out of the mesh at once.
 *
 * - off: publish the empty state (the registry is the truth; default).
 * - keep-last: keep the last non-empty state and count every held observation
 *   (meshbridge_collector_empty_protected_total) until the service has instances again or is removed from the
 *   registry altogether (a removal is always published).
 */
export type EmptyPolicy = 'off' | 'keep-last';

export function emptyProtectionDecision(
  policy: EmptyPolicy,
  previousCount: number | undefined,
  nextCount: number,
): 'publish' | 'hold' {
  if (policy === 'off' || nextCount > 0) return 'publish';
  return previousCount !== undefined && previousCount > 0 ? 'hold' : 'publish';
}
