import crypto from 'node:crypto';
import { McpResource, ServiceEntry, type protobuf } from './proto.ts';
import { MCP_RESOURCE_TYPE, SERVICE_ENTRY_BODY_TYPE, type ServedKind } from './type-urls.ts';

export interface ResourceMeta {
  /** "namespace/name" — exactly one slash. */
  name: string;
  /** Stable for the life of the object: among ServiceEntries of one host the oldest wins (istio#30683). */
  createTimeMs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface EncodedResource {
  name: string;
  kind: ServedKind;
  /** Content hash of the body: istiod updates an object only when metadata.version changes. */
  version: string;
  /** The complete `Any{type_url: ...mcp.v1alpha1.Resource, value}` element of DiscoveryResponse.resources. */
  any: Buffer;
}

const BODY = {
  ServiceEntry: { type: ServiceEntry, url: SERVICE_ENTRY_BODY_TYPE },
} as const;

/** protobufjs writes map entries in insertion order; sorting keys makes the bytes a pure function of the content. */
function sorted(rec: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(rec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Object keys sorted at every depth (arrays keep their order: list order is meaningful and set by the builder). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/**
 * Encodes one istio object into the MCP envelope istiod expects. Maps are written in sorted key order whatever the
 * caller's insertion order, so equal content gives equal bytes on every replica and every replay.
 */
export function encodeResource(kind: ServedKind, meta: ResourceMeta, body: object): EncodedResource {
  const { type, url } = BODY[kind];
  const bodyBytes = type.encode(type.fromObject(canonical(body) as object)).finish();
  return { name: meta.name, kind, ...envelope(url, bodyBytes, meta) };
}

const Any = McpResource.root.lookupType('google.protobuf.Any');

/** Already sorted (the builder's usual output) is returned as is: no copy on the projector's hot path. */
function sortedRecord(rec: Record<string, string>): Record<string, string> {
  const keys = Object.keys(rec);
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return sorted(rec);
  return rec;
}

/**
 * The MCP envelope around an encoded body: `Any{type_url: ...mcp.v1alpha1.Resource, value: Resource{metadata, body}}`,
 * with metadata.version the content hash of the body, labels and annotations. The one writer of these bytes: every
 * resource kind's encoder ends here.
 */
export function envelope(
  bodyTypeUrl: string,
  bodyBytes: Uint8Array,
  meta: ResourceMeta,
): { version: string; any: Buffer } {
  const labels = sortedRecord(meta.labels);
  const annotations = sortedRecord(meta.annotations);
  const version = crypto
    .createHash('sha256')
    .update(bodyBytes)
    .update(JSON.stringify([labels, annotations]))
    .digest('hex')
    .slice(0, 16);
  const seconds = Math.floor(meta.createTimeMs / 1000);
  const resource = McpResource.encode({
    metadata: {
      name: meta.name,
      create_time: { seconds, nanos: (meta.createTimeMs - seconds * 1000) * 1_000_000 },
      version,
      labels,
      annotations,
    },
    body: { type_url: bodyTypeUrl, value: bodyBytes },
  } as unknown as protobuf.Message).finish();
  const any = Any.encode({ type_url: MCP_RESOURCE_TYPE, value: resource } as unknown as protobuf.Message).finish();
  return { version, any: Buffer.from(any.buffer, any.byteOffset, any.byteLength) };
}

/** Inverse of encodeResource, for tests, debug views and `replay` output. */
export function decodeResource(any: Uint8Array): {
  name: string;
  version: string;
  createTimeMs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  bodyType: string;
  body: Record<string, unknown>;
} {
  const outer = Any.decode(any) as unknown as { type_url: string; value: Uint8Array };
  const res = McpResource.toObject(McpResource.decode(outer.value), { longs: Number, defaults: false }) as {
    metadata: {
      name: string;
      version: string;
      create_time?: { seconds?: number; nanos?: number };
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    };
    body: { type_url: string; value: Uint8Array };
  };
  if (res.body.type_url !== SERVICE_ENTRY_BODY_TYPE)
    throw new Error(`${res.metadata.name}: body type ${res.body.type_url} is not one meshbridge serves`);
  const type = BODY.ServiceEntry.type;
  return {
    name: res.metadata.name,
    version: res.metadata.version,
    createTimeMs:
      (res.metadata.create_time?.seconds ?? 0) * 1000 + Math.floor((res.metadata.create_time?.nanos ?? 0) / 1e6),
    labels: res.metadata.labels ?? {},
    annotations: res.metadata.annotations ?? {},
    bodyType: res.body.type_url,
    body: type.toObject(type.decode(res.body.value), { enums: String, defaults: false }),
  };
}
