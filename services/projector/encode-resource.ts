import crypto from 'node:crypto';
import { McpResource, ServiceEntry, protobuf } from '../../schemas/proto.ts';
import { MCP_RESOURCE_TYPE, SERVICE_ENTRY_BODY_TYPE } from '../../schemas/type-urls.ts';
import type { ResourceMeta } from '../../schemas/mcp-envelope.ts';
import type { ServiceEntryBody } from './validate-istio.ts';

/**
 * The projector's hot-path twin of schemas/mcp-envelope.ts encodeResource for ServiceEntries: the same bytes
 * (test/unit/projector-encoding.test.ts proves it over generated bodies), without the reflective fromObject() and
 * the deep canonicalising copy, which cost more than the rest of the fold together. It relies on its input being
 * canonical already, which buildServiceEntry guarantees (sorted lists, maps built in sorted key order).
 */
const Any = McpResource.root.lookupType('google.protobuf.Any');

const sortedRecord = (rec: Record<string, string>): Record<string, string> => {
  const keys = Object.keys(rec);
  let inOrder = true;
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) { inOrder = false; break; }
  if (inOrder) return rec;
  const out: Record<string, string> = {};
  for (const k of keys.sort()) out[k] = rec[k]!;
  return out;
};

export function encodeServiceEntryAny(meta: ResourceMeta, body: ServiceEntryBody): Buffer {
  const bodyBytes = ServiceEntry.encode(body as unknown as protobuf.Message).finish();
  const labels = sortedRecord(meta.labels);
  const annotations = sortedRecord(meta.annotations);
  const version = crypto.createHash('sha256').update(bodyBytes).update(JSON.stringify([labels, annotations])).digest('hex').slice(0, 16);
  const seconds = Math.floor(meta.createTimeMs / 1000);
  const resource = McpResource.encode({
    metadata: {
      name: meta.name,
      create_time: { seconds, nanos: (meta.createTimeMs - seconds * 1000) * 1_000_000 },
      version,
      labels,
      annotations,
    },
    body: { type_url: SERVICE_ENTRY_BODY_TYPE, value: bodyBytes },
  } as unknown as protobuf.Message).finish();
  const any = Any.encode({ type_url: MCP_RESOURCE_TYPE, value: resource } as unknown as protobuf.Message).finish();
  return Buffer.from(any.buffer, any.byteOffset, any.byteLength);
}
