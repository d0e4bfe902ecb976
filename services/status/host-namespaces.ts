import { parseResourceField } from '../../snapshot-store/resource-field.ts';
import { splitServiceKey } from '../../projection/fold-state.ts';
import { hostEntryName } from '../../schemas/port-entry-name.ts';
import type { Check } from './status.ts';

/**
 * Mesh hosts the snapshot serves from more than one namespace, each with its namespaces (sorted). Pure: takes the
 * fields of the snapshot's resources hash (`ServiceEntry|<namespace>/<host>`, and a split host's per-port
 * `…/<host>~<port name>`).
 *
 * Why it matters: istio treats two ServiceEntries of one host in different namespaces as two services, and a sidecar
 * uses one of them (the older) — the other's endpoints get no traffic. It happens when two sources feed one registry
 * service into different mesh namespaces, e.g. a Dubbo fleet moving from ZooKeeper (namespace `dubbo` by default) to
 * Nacos (`nacos` by default) without giving both sources the same `namespace`.
 */
export function hostsInSeveralNamespaces(fields: Iterable<string>): Map<string, string[]> {
  const byHost = new Map<string, Set<string>>();
  for (const f of fields) {
    const { kind, name } = parseResourceField(f);
    if (kind !== 'ServiceEntry') continue;
    const { namespace, host } = splitServiceKey(hostEntryName(name));
    byHost.set(host, (byHost.get(host) ?? new Set<string>()).add(namespace));
  }
  const out = new Map<string, string[]>();
  for (const [host, set] of [...byHost].sort(([a], [b]) => (a < b ? -1 : 1)))
    if (set.size > 1) out.set(host, [...set].sort());
  return out;
}

/** The status line for it: ok when every host has one namespace, else a warning naming up to five. Pure. */
export function hostNamespacesCheck(fields: Iterable<string>): Check {
  const several = hostsInSeveralNamespaces(fields);
  if (several.size === 0)
    return { check: 'mesh hosts', outcome: 'ok', detail: 'every host is served from one namespace' };
  const listed = [...several]
    .slice(0, 5)
    .map(([host, ns]) => `${host} (${ns.join(', ')})`)
    .join('; ');
  return {
    check: 'mesh hosts',
    outcome: 'warn',
    detail:
      `${several.size} host(s) served from several namespaces, and a sidecar uses only one of each: ${listed}` +
      `${several.size > 5 ? `; and ${several.size - 5} more` : ''}. Give the sources that feed one service the same ` +
      '`namespace` (docs/collectors.md)',
  };
}
