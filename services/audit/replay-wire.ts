import type { TopicMessage } from './topic-reader.ts';

/**
 * How messages and replayed resources cross to and from replay worker threads: their bytes packed into one fresh
 * ArrayBuffer and transferred, not cloned. Kafka message values are views into large fetch buffers; cloning a view
 * would copy its whole backing buffer, once per message batch.
 */
export interface PackedValues {
  lengths: Int32Array;
  data: ArrayBuffer;
}
export interface PackedMessages extends PackedValues {
  offsets: BigInt64Array;
  timestamps: Float64Array;
}
export interface PackedBuffers extends PackedValues {
  keys: string[];
}

/** Byte strings (null: length -1) into one buffer. */
function packValues(values: (Buffer | null)[]): PackedValues {
  const lengths = new Int32Array(values.length);
  let size = 0;
  for (const v of values) size += v?.length ?? 0;
  const data = new ArrayBuffer(size);
  const bytes = new Uint8Array(data);
  let at = 0;
  values.forEach((v, i) => {
    if (v === null) {
      lengths[i] = -1;
      return;
    }
    bytes.set(v, at);
    lengths[i] = v.length;
    at += v.length;
  });
  return { lengths, data };
}

function unpackValues({ lengths, data }: PackedValues): (Buffer | null)[] {
  let at = 0;
  return Array.from(lengths, (len) => {
    if (len < 0) return null;
    const v = Buffer.from(data, at, len);
    at += len;
    return v;
  });
}

const transferOf = (p: PackedValues, ...more: ArrayBufferLike[]) =>
  [p.lengths.buffer, p.data, ...more] as ArrayBuffer[];

export function packMessages(messages: TopicMessage[]): { packed: PackedMessages; transfer: ArrayBuffer[] } {
  const values = packValues(messages.map((m) => m.value));
  const offsets = BigInt64Array.from(messages, (m) => m.offset);
  const timestamps = Float64Array.from(messages, (m) => m.timestamp);
  return {
    packed: { ...values, offsets, timestamps },
    transfer: transferOf(values, offsets.buffer, timestamps.buffer),
  };
}

export function unpackMessages(p: PackedMessages): TopicMessage[] {
  return unpackValues(p).map((value, i) => ({ offset: p.offsets[i]!, timestamp: p.timestamps[i]!, value }));
}

export function packBuffers(map: Map<string, Buffer>): { packed: PackedBuffers; transfer: ArrayBuffer[] } {
  const values = packValues([...map.values()]);
  return { packed: { ...values, keys: [...map.keys()] }, transfer: transferOf(values) };
}

export function unpackBuffers(p: PackedBuffers): Map<string, Buffer> {
  const values = unpackValues(p);
  return new Map(p.keys.map((k, i) => [k, values[i]!]));
}
