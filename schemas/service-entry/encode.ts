import { ServiceEntry, type protobuf } from '../proto.ts';
import { SERVICE_ENTRY_BODY_TYPE } from '../type-urls.ts';
import { envelope, type ResourceMeta } from '../mcp-envelope.ts';
import type { ServiceEntryBody } from './validate.ts';

/**
 * A ServiceEntry's MCP `Any` bytes on the projector's hot path: the body is encoded directly, without the reflective
 * fromObject() and deep canonicalising copy of encodeResource (they cost more than the rest of the fold together),
 * then wrapped by the one envelope writer. Equal to encodeResource('ServiceEntry', …) byte for byte
 * (test/unit/projector-encoding.test.ts, over generated bodies) because its input is canonical already:
 * buildServiceEntry sorts every list and builds maps in sorted key order.
 */
export function encodeServiceEntryAny(meta: ResourceMeta, body: ServiceEntryBody): Buffer {
  return envelope(SERVICE_ENTRY_BODY_TYPE, ServiceEntry.encode(body as unknown as protobuf.Message).finish(), meta).any;
}
