/**
 * A moment in the mesh's history, as an operator names it on the command line:
 *   2025-06-01T12:00:00Z   a time (RFC 3339 / ISO 8601; a time zone is required, so a cron job means the same moment everywhere)
 *   0:120,1:98,2:131       per-partition offsets, exclusive ("next offset to consume", as the projector stores them);
 *                          every partition must be named
 *   v42 | version:42       a live snapshot version (resolved through the change stream in Redis)
 *   now | latest           the end of the topic
 */
export type Point =
  | { kind: 'time'; timeMs: number; text: string }
  | { kind: 'offsets'; offsets: Map<number, bigint>; text: string }
  | { kind: 'version'; version: number; text: string }
  | { kind: 'end'; text: string };

export class PointError extends Error {}

export function parsePoint(text: string): Point {
  const t = text.trim();
  if (/^(now|latest|end)$/i.test(t)) return { kind: 'end', text: t };
  const v = /^(?:v|version:)(\d+)$/i.exec(t);
  if (v) return { kind: 'version', version: Number(v[1]), text: t };
  if (/^\d+:\d+(,\d+:\d+)*$/.test(t)) {
    const offsets = new Map<number, bigint>();
    for (const part of t.split(',')) {
      const [p, o] = part.split(':') as [string, string];
      if (offsets.has(Number(p))) throw new PointError(`partition ${p} named twice in "${t}"`);
      offsets.set(Number(p), BigInt(o));
    }
    return { kind: 'offsets', offsets, text: t };
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(t)) {
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(t))
      throw new PointError(`time "${t}" has no time zone: add Z or an offset such as +02:00`);
    const ms = Date.parse(t);
    if (Number.isNaN(ms)) throw new PointError(`"${t}" is not a valid time`);
    return { kind: 'time', timeMs: ms, text: t };
  }
  throw new PointError(
    `cannot read "${t}" as a point in time: use an RFC 3339 time (2025-06-01T12:00:00Z), partition offsets (0:120,1:98), a version (v42) or now`,
  );
}

export function formatOffsets(offsets: Map<number, bigint>): string {
  return [...offsets]
    .sort(([a], [b]) => a - b)
    .map(([p, o]) => `${p}:${o}`)
    .join(',');
}
