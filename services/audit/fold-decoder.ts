import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { decodeEvent, SCHEMA_FILES } from '../../schemas/event-codec.ts';
import { rabinFingerprint } from '../../schemas/rabin.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';

/**
 * A faster decoder for bulk replays. The fold never reads `raw` (the registry's own data, kept for audits, up to
 * 64 KiB per event) nor `issues`, so a replay resolves every writer schema to a reader schema without them: Avro skips
 * their bytes instead of building strings nobody uses. Everything the fold does read is decoded exactly as
 * decodeEvent decodes it; bytes this decoder does not know fall back to decodeEvent (and its errors).
 */
const SKIPPED = new Set(['raw', 'issues']);
const avroDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas', 'avro');

const resolvers = (() => {
  const schemas = SCHEMA_FILES.map((f) => JSON.parse(fs.readFileSync(path.join(avroDir, f), 'utf8')) as { fields: { name: string }[] });
  const current = schemas[schemas.length - 1]!;
  const lean = avro.Type.forSchema({ ...current, fields: current.fields.filter((f) => !SKIPPED.has(f.name)) } as avro.Schema);
  const out = new Map<string, { type: avro.Type; resolver: avro.Resolver }>();
  for (const s of schemas) {
    const writer = avro.Type.forSchema(s as avro.Schema);
    const fp = rabinFingerprint(Buffer.from(JSON.stringify(writer.schema()))).toString('hex');
    out.set(fp, { type: lean, resolver: lean.createResolver(writer) });
  }
  return out;
})();

export function decodeForFold(buf: Buffer): RegistryEvent {
  if (buf.length >= 10 && buf[0] === 0xc3 && buf[1] === 0x01) {
    const r = resolvers.get(buf.subarray(2, 10).toString('hex'));
    if (r) {
      try {
        const e = r.type.fromBuffer(buf.subarray(10), r.resolver) as RegistryEvent;
        e.raw = null;
        e.issues = [];
        return e;
      } catch {
        // fall through: decodeEvent reports the error the projector would dead-letter with
      }
    }
  }
  return decodeEvent(buf);
}
