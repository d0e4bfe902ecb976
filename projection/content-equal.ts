import type { InstanceSpec, ServicePortSpec } from '../schemas/registry-event.ts';

/**
 * Structural equality of what a source says about a service (ports and instances, in order). Runs once per event on
 * the hot path, so it compares field by field without allocating (JSON.stringify of both sides dominated the fold).
 */
export function samePorts(a: ServicePortSpec[], b: ServicePortSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.number !== y.number || x.protocol !== y.protocol) return false;
  }
  return true;
}

const NONE: Record<string, string> = {};

export function sameInstances(a: InstanceSpec[], b: InstanceSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.address !== y.address || x.weight !== y.weight || x.locality !== y.locality) return false;
    if (
      !sameRecord(x.ports, y.ports) ||
      !sameRecord(x.labels, y.labels) ||
      !sameRecord(x.metadata ?? NONE, y.metadata ?? NONE)
    )
      return false;
  }
  return true;
}

/** Same keys in the same order with the same values (order matters: it is part of what gets hashed and stored). */
function sameRecord(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || a[k] !== b[k]) return false;
  }
  return true;
}
