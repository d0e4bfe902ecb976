import type { TopicMessage } from './topic-reader.ts';

/**
 * How messages and replayed resources cross to and from replay worker threads: packed into one fresh ArrayBuffer and
 * transferred, not cloned. Kafka message values are views into large fetch buffers; cloning a view would copy its
 * whole backing buffer, once per message batch.
 */
export interface PackedMessages { offsets: BigInt64Array; timestamps: Float64Array; lengths: Int32Array; data: ArrayBuffer }
export interface PackedBuffers { keys: string[]; lengths: Int32Array; data: ArrayBuffer }

export function packMessages(messages: TopicMessage[]): { packed: PackedMessages; transfer: ArrayBuffer[] } {
  const n = messages.length;
  const offsets = new BigInt64Array(n);
  const timestamps = new Float64Array(n);
  const lengths = new Int32Array(n);
  let size = 0;
  for (const m of messages) size += m.value?.length ?? 0;
  const data = new ArrayBuffer(size);
  const bytes = new Uint8Array(data);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    offsets[i] = m.offset;
    timestamps[i] = m.timestamp;
    if (m.value === null) { lengths[i] = -1; continue; }
    bytes.set(m.value, at);
    lengths[i] = m.value.length;
    at += m.value.length;
  }
  return { packed: { offsets, timestamps, lengths, data }, transfer: [offsets.buffer as ArrayBuffer, timestamps.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer, data] };
}

export function unpackMessages(p: PackedMessages): TopicMessage[] {
  const out: TopicMessage[] = new Array(p.lengths.length);
  let at = 0;
  for (let i = 0; i < p.lengths.length; i++) {
    const len = p.lengths[i]!;
    out[i] = { offset: p.offsets[i]!, timestamp: p.timestamps[i]!, value: len < 0 ? null : Buffer.from(p.data, at, len) };
    if (len > 0) at += len;
  }
  return out;
}

export function packBuffers(map: Map<string, Buffer>): { packed: PackedBuffers; transfer: ArrayBuffer[] } {
  const keys = [...map.keys()];
  const lengths = new Int32Array(keys.length);
  let size = 0;
  for (const v of map.values()) size += v.length;
  const data = new ArrayBuffer(size);
  const bytes = new Uint8Array(data);
  let at = 0;
  keys.forEach((k, i) => {
    const v = map.get(k)!;
    bytes.set(v, at);
    lengths[i] = v.length;
    at += v.length;
  });
  return { packed: { keys, lengths, data }, transfer: [lengths.buffer as ArrayBuffer, data] };
}

export function unpackBuffers(p: PackedBuffers): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  p.keys.forEach((k, i) => {
    const len = p.lengths[i]!;
    out.set(k, Buffer.from(p.data, at, len));
    at += len;
  });
  return out;
}
