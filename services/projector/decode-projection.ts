import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { EventDecodeError, SCHEMA_FILES } from '../../schemas/event-codec.ts';
import { rabinFingerprint } from '../../schemas/rabin.ts';
import { UNUSED_BY_FOLD, type FoldEvent } from './fold-state.ts';

/**
 * decodeEvent (schemas/event-codec.ts) restricted to what the fold reads. The audit fields — the raw registry
 * payload (kilobytes per event), data issues, publisher identity — are left out of the reader schema, so avsc skips
 * their bytes instead of allocating strings the projector would throw away (decoding and the garbage it made were
 * the largest costs after the fold itself). Same writer-schema lookup by fingerprint, same errors for bad bytes;
 * test/unit/projector-decode.test.ts checks it against decodeEvent.
 */

const schemaDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas', 'avro');

function load(): Map<string, { reader: avro.Type; resolver: avro.Resolver; file: string }> {
  const read = (file: string) => JSON.parse(fs.readFileSync(path.join(schemaDir, file), 'utf8'));
  const current = read(SCHEMA_FILES[SCHEMA_FILES.length - 1]!);
  const unused = new Set<string>(UNUSED_BY_FOLD);
  const reader = avro.Type.forSchema({ ...current, fields: current.fields.filter((f: { name: string }) => !unused.has(f.name)) });
  const out = new Map<string, { reader: avro.Type; resolver: avro.Resolver; file: string }>();
  for (const file of SCHEMA_FILES) {
    const writer = avro.Type.forSchema(read(file));
    // The fingerprint schemas/event-codec.ts writes: CRC-64-AVRO of the parsing canonical form.
    const fp = rabinFingerprint(Buffer.from(JSON.stringify(writer.schema()))).toString('hex');
    out.set(fp, { reader, resolver: reader.createResolver(writer), file });
  }
  return out;
}

const byFingerprint = load();

export function decodeForFold(buf: Buffer): FoldEvent {
  if (buf.length < 10 || buf[0] !== 0xc3 || buf[1] !== 0x01) {
    throw new EventDecodeError('not an Avro single-object encoded message (missing C3 01 marker)', { length: buf.length });
  }
  const fp = buf.subarray(2, 10).toString('hex');
  const w = byFingerprint.get(fp);
  if (!w) throw new EventDecodeError(`unknown writer schema fingerprint ${fp}: written by a newer meshbridge? upgrade this one`, { fingerprint: fp });
  try {
    return w.reader.fromBuffer(buf.subarray(10), w.resolver) as FoldEvent;
  } catch (err) {
    throw new EventDecodeError(`undecodable ${w.file} body: ${(err as Error).message}`, { fingerprint: fp });
  }
}
