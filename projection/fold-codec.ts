import { emptyPartitionState, type PartitionState, type ServiceFold, type Tombstone } from './fold-state.ts';

/**
 * How a partition's fold is persisted in Redis (one JSON value per service, epochs in the partition meta hash).
 * Pure, and shared with the property tests: a fold reloaded from its stored form must continue exactly as the
 * in-memory one would (crash/rebalance equivalence).
 */
export const encodeServiceFold = (svc: ServiceFold): string => JSON.stringify(svc);

export function decodePartitionState(
  services: string[] | Record<string, string>,
  meta: Record<string, string>,
): PartitionState {
  const state = emptyPartitionState();
  const pairs = Array.isArray(services) ? pairsOf(services) : Object.entries(services);
  for (const [key, json] of pairs) state.services.set(key, JSON.parse(json) as ServiceFold);
  for (const [field, value] of Object.entries(meta)) {
    if (field.startsWith('epoch:')) state.epochs.set(field.slice(6), Number(value));
    else if (field.startsWith('tomb:')) state.tombstones.set(field.slice(5), decodeTombstone(value));
  }
  return state;
}

/** A tombstone in the partition meta hash: `tomb:<source>|<key>` -> `<epoch>:<seq>:<at>`. */
const encodeTombstone = (t: Tombstone) => `${t.epoch}:${t.seq}:${t.at}`;
function decodeTombstone(v: string): Tombstone {
  const [epoch, seq, at] = v.split(':').map(Number);
  return { epoch: epoch!, seq: seq!, at: at! };
}

/** The partition meta fields a batch sets and deletes: epochs per source, tombstones set or dropped. */
export function encodeMetaChanges(
  epochs: Map<string, number>,
  tombstones: Map<string, Tombstone | null>,
): { sets: string[]; deletes: string[] } {
  const sets: string[] = [];
  const deletes: string[] = [];
  for (const [s, e] of epochs) sets.push(`epoch:${s}`, String(e));
  for (const [k, t] of tombstones) {
    if (t) sets.push(`tomb:${k}`, encodeTombstone(t));
    else deletes.push(`tomb:${k}`);
  }
  return { sets, deletes };
}

function pairsOf(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** The stored form of a whole partition state, as Redis holds it after the batches that produced it. */
export function encodePartitionState(state: PartitionState): {
  services: Record<string, string>;
  meta: Record<string, string>;
} {
  const services: Record<string, string> = {};
  for (const [k, v] of state.services) services[k] = encodeServiceFold(v);
  const meta: Record<string, string> = {};
  for (const [s, e] of state.epochs) meta[`epoch:${s}`] = String(e);
  for (const [k, t] of state.tombstones) meta[`tomb:${k}`] = encodeTombstone(t);
  return { services, meta };
}
