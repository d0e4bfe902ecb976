/**
 * Which resources one istiod is served: a pure function of the gateway's config and the istiod's revision
 * (ISTIO_REVISION in its node metadata; '' for an istiod without revision).
 *
 * - `revisions[rev]` lists the namespaces served to istiods of revision `rev` (canary control planes, tenants);
 * - every other istiod gets `namespaces`;
 * - an empty list means every namespace.
 *
 * Filtering happens here, not in istiod: istiod would otherwise hold (and push to every proxy) config it must not
 * use. Responses are still state of the world per view, so a view must never change on a live stream (an istiod
 * would see deletions): the view is fixed by the stream's first node.
 */
export interface ViewConfig {
  namespaces: readonly string[];
  revisions: Readonly<Record<string, readonly string[]>>;
}

export interface View {
  /** Cache key: equal keys ⇒ equal resource lists (so equal bytes). '*' = everything. */
  readonly key: string;
  /** `name` is "namespace/name". */
  allows(name: string): boolean;
}

export const ALL: View = { key: '*', allows: () => true };

export function viewFor(cfg: ViewConfig, revision: string): View {
  const list = Object.hasOwn(cfg.revisions, revision) ? cfg.revisions[revision]! : cfg.namespaces;
  if (list.length === 0) return ALL;
  const set = new Set(list);
  return {
    key: [...set].sort().join(','),
    allows: (name) => set.has(name.slice(0, name.indexOf('/'))),
  };
}

/** The items of a sorted kind list that a view allows (the list itself when it allows everything). */
export function select<T>(view: View, names: readonly string[], items: readonly T[]): readonly T[] {
  if (view === ALL) return items;
  const out: T[] = [];
  for (let i = 0; i < names.length; i++) if (view.allows(names[i]!)) out.push(items[i]!);
  return out;
}
