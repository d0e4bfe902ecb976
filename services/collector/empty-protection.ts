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

export function emptyProtectionDecision(policy: EmptyPolicy, previousCount: number | undefined, nextCount: number): 'publish' | 'hold' {
  if (policy === 'off' || nextCount > 0) return 'publish';
  return previousCount !== undefined && previousCount > 0 ? 'hold' : 'publish';
}
