import { protobuf } from '../../schemas/proto.ts';

/**
 * DiscoveryResponse bytes assembled from pre-encoded resources. Fields: version_info=1, resources=2, type_url=4,
 * nonce=5 (envoy discovery.proto). The body without the nonce is built once per (kind version, type URL) and shared
 * by every stream; each stream only appends its nonce (protobuf fields may come in any order).
 */
export function encodeResponseBody(versionInfo: string, typeUrl: string, resources: readonly Uint8Array[]): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(versionInfo);
  for (const r of resources) w.uint32((2 << 3) | 2).bytes(r);
  w.uint32((4 << 3) | 2).string(typeUrl);
  return Buffer.from(w.finish());
}

export function withNonce(body: Buffer, nonce: string): Buffer {
  const tail = protobuf.Writer.create().uint32((5 << 3) | 2).string(nonce).finish();
  return Buffer.concat([body, tail], body.length + tail.length);
}

/** Small cache of response bodies, cleared when the snapshot moves on. */
export class ResponseBodyCache {
  private readonly bodies = new Map<string, Buffer>();
  private snapshotVersion = -1;

  get(snapshotVersion: number, key: string, build: () => Buffer): Buffer {
    if (snapshotVersion !== this.snapshotVersion) {
      this.bodies.clear();
      this.snapshotVersion = snapshotVersion;
    }
    let b = this.bodies.get(key);
    if (!b) {
      b = build();
      this.bodies.set(key, b);
    }
    return b;
  }
}
