import type { Snapshot } from './snapshot.ts';

/**
 * The shards with a kind list changed after `sinceSeq` (changedAt values are one gateway-wide increasing sequence),
 * and the newest changedAt seen. A push tick visits only those shards' streams: with hundreds of shards, a change
 * touches one, and walking every stream's plan per tick was a tenth of the gateway's CPU under churn. Streams left
 * out lose nothing — a stream still owed a response gets it on its ACK, its drain or its subscription.
 */
export function changedShards(snap: Snapshot, sinceSeq: number): { shards: number[]; maxSeq: number } {
  const shards: number[] = [];
  let maxSeq = sinceSeq;
  for (let s = 0; s < snap.shards; s++) {
    let changed = false;
    for (const lists of Object.values(snap.kinds)) {
      const at = lists[s]?.changedAt ?? 0;
      if (at > sinceSeq) changed = true;
      if (at > maxSeq) maxSeq = at;
    }
    if (changed) shards.push(s);
  }
  return { shards, maxSeq };
}
