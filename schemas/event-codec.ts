import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { rabinFingerprint } from './rabin.ts';
import type { RegistryEvent } from './registry-event.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Avro single-object encoding marker (spec: "Single object encoding"). */
const MAGIC = Buffer.from([0xc3, 0x01]);

/**
 * Every schema version ever written, oldest first. The last one is the reader schema; a message names its writer
 * schema by fingerprint, so a replay reads each old event with the schema it was written with.
 */
export const SCHEMA_FILES = ['registry-event.v1.avsc', 'registry-event.v2.avsc', 'registry-event.v3.avsc'];

interface RecordSchema {
  fields: { name: string }[];
}
interface Writer {
  type: avro.Type;
  fingerprint: Buffer;
  file: string;
  fpHex: string;
}

function loadWriters(): { current: Writer & { schema: RecordSchema }; byFingerprint: Map<string, Writer> } {
  const writers = SCHEMA_FILES.map((file) => {
    // As written (with field defaults, which resolving an older writer needs), not the canonical form.
    const schema = JSON.parse(fs.readFileSync(path.join(here, 'avro', file), 'utf8')) as RecordSchema;
    const type = avro.Type.forSchema(schema as avro.Schema);
    // avsc's schema() without exportAttrs is the parsing canonical form the fingerprint is defined over.
    const fingerprint = rabinFingerprint(Buffer.from(JSON.stringify(type.schema())));
    return { type, file, fingerprint, fpHex: fingerprint.toString('hex'), schema };
  });
  return { current: writers[writers.length - 1]!, byFingerprint: new Map(writers.map((w) => [w.fpHex, w])) };
}

const { current, byFingerprint } = loadWriters();

export class EventDecodeError extends Error {
  readonly retriable = false;
  constructor(
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'EventDecodeError';
  }
}

export const currentSchema = { file: current.file, fingerprint: current.fingerprint.toString('hex') };

export function encodeEvent(event: RegistryEvent): Buffer {
  const body = current.type.toBuffer(event);
  return Buffer.concat([MAGIC, current.fingerprint, body]);
}

/**
 * Encodes with an older writer schema, exactly as a meshbridge of that version did — for schema-evolution tests,
 * benchmarks and simulating old collectors. Fields the old schema lacks are dropped.
 */
export function encodeEventAs(file: string, event: RegistryEvent): Buffer {
  const writer = [...byFingerprint.values()].find((w) => w.file === file);
  if (!writer) throw new Error(`unknown schema file ${file}; known: ${SCHEMA_FILES.join(', ')}`);
  return Buffer.concat([MAGIC, writer.fingerprint, writer.type.toBuffer(event)]);
}

/** The schema file a message was written with (audit output), or undefined for bytes no known schema wrote. */
export function writerSchemaOf(buf: Buffer): string | undefined {
  if (buf.length < 10 || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1]) return undefined;
  return byFingerprint.get(buf.subarray(2, 10).toString('hex'))?.file;
}

/** The writer of a single-object encoded message, or an EventDecodeError saying why there is none. */
function writerOf(buf: Buffer): Writer {
  if (buf.length < 10 || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1]) {
    throw new EventDecodeError('not an Avro single-object encoded message (missing C3 01 marker)', {
      length: buf.length,
    });
  }
  const fp = buf.subarray(2, 10).toString('hex');
  const writer = byFingerprint.get(fp);
  if (!writer) {
    throw new EventDecodeError(
      `unknown writer schema fingerprint ${fp}: written by a newer meshbridge? upgrade this one`,
      { fingerprint: fp },
    );
  }
  return writer;
}

/**
 * A decoder that reads every writer schema resolved to the current one minus `omit`: avsc skips the omitted fields'
 * bytes instead of building values nobody reads (the raw registry payload is kilobytes per event). Same writer
 * lookup and the same errors as decodeEvent.
 */
export function createEventDecoder<T>(omit: readonly string[]): (buf: Buffer) => T {
  const reader = avro.Type.forSchema({
    ...current.schema,
    fields: current.schema.fields.filter((f) => !omit.includes(f.name)),
  } as avro.Schema);
  const resolvers = new Map(
    [...byFingerprint.values()].map((w) => [
      w,
      w === current && omit.length === 0 ? undefined : reader.createResolver(w.type),
    ]),
  );
  return (buf) => {
    const writer = writerOf(buf);
    try {
      return reader.fromBuffer(buf.subarray(10), resolvers.get(writer)) as T;
    } catch (err) {
      throw new EventDecodeError(`undecodable ${writer.file} body: ${(err as Error).message}`, {
        fingerprint: writer.fpHex,
      });
    }
  };
}

/** Decodes a single-object encoded event with its own writer schema, resolved to the current reader schema. */
export const decodeEvent: (buf: Buffer) => RegistryEvent = createEventDecoder<RegistryEvent>([]);
