/**
 * Equal records as one shared object. The collector holds a record per provider of the registry (its kept URL
 * parameters, its endpoint's labels and ports) where the providers of one service or application nearly always carry
 * the same: shared, they cost one object per distinct value instead of one per provider. Shared records are read-only
 * from then on (they are only encoded and compared). With `max`, forgets everything when that many are known, so
 * values seen once over months of churn do not pile up.
 */
export class Sharing<T extends Record<string, string | number>> {
  private readonly seen = new Map<string, T>();

  constructor(private readonly max = Number.POSITIVE_INFINITY) {}

  of(rec: T): T {
    let key = '';
    for (const k in rec) key += `${k}\u0000${rec[k]}\u0000`;
    const known = this.seen.get(key);
    if (known) return known;
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.set(key, rec);
    return rec;
  }
}
