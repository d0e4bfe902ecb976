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
export const SCHEMA_FILES = ['registry-event.v1.avsc', 'registry-event.v2.avsc'];

interface Writer { type: avro.Type; fingerprint: Buffer; resolver: avro.Resolver | undefined; file: string }

function loadWriters(): { current: Writer; byFingerprint: Map<string, Writer> } {
  const types = SCHEMA_FILES.map((file) => {
    const schema = JSON.parse(fs.readFileSync(path.join(here, 'avro', file), 'utf8'));
    const type = avro.Type.forSchema(schema);
    // avsc's schema() without exportAttrs is the parsing canonical form the fingerprint is defined over.
    return { type, file, fingerprint: rabinFingerprint(Buffer.from(JSON.stringify(type.schema()))) };
  });
  const current = types[types.length - 1]!;
  const byFingerprint = new Map<string, Writer>();
  for (const t of types) {
    byFingerprint.set(t.fingerprint.toString('hex'), {
      ...t,
      resolver: t === current ? undefined : current.type.createResolver(t.type),
    });
  }
  return { current: { ...current, resolver: undefined }, byFingerprint };
}

const { current, byFingerprint } = loadWriters();

export class EventDecodeError extends Error {
  readonly retriable = false;
  constructor(message: string, readonly context: Record<string, unknown> = {}) {
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

/** Decodes a single-object encoded event with its own writer schema, resolved to the current reader schema. */
export function decodeEvent(buf: Buffer): RegistryEvent {
  if (buf.length < 10 || buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1]) {
    throw new EventDecodeError('not an Avro single-object encoded message (missing C3 01 marker)', { length: buf.length });
  }
  const fp = buf.subarray(2, 10).toString('hex');
  const writer = byFingerprint.get(fp);
  if (!writer) {
    throw new EventDecodeError(`unknown writer schema fingerprint ${fp}: written by a newer meshbridge? upgrade this one`, { fingerprint: fp });
  }
  try {
    return current.type.fromBuffer(buf.subarray(10), writer.resolver) as RegistryEvent;
  } catch (err) {
    throw new EventDecodeError(`undecodable ${writer.file} body: ${(err as Error).message}`, { fingerprint: fp });
  }
}
