/** Kinds of resource the snapshot can hold. */
export type ResourceKind = 'ServiceEntry';

/**
 * Field of a resource in the `resources` hash: kind and "namespace/name", so resources of different kinds never
 * collide, and a gateway can list one kind without decoding.
 */
export const resourceField = (kind: ResourceKind, name: string) => `${kind}|${name}`;

export function parseResourceField(field: string): { kind: ResourceKind; name: string } {
  const bar = field.indexOf('|');
  return { kind: field.slice(0, bar) as ResourceKind, name: field.slice(bar + 1) };
}
