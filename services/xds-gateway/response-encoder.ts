/**
 * DiscoveryResponse bytes assembled from pre-encoded resources, never re-serialised. Fields: version_info=1,
 * resources=2, type_url=4, nonce=5 (envoy discovery.proto). Each message, nonce included, is built once per
 * (kind list, type URL, view) and shared by every stream (the nonce names the message, not the stream).
 *
 * Written by hand into one pre-sized buffer: with 10,000 resources (~7 MiB) a generic protobuf Writer spends most of
 * a push copying the same bytes twice.
 */
import { frame } from './framed-write.ts';

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

const fieldSize = (len: number) => 1 + varintSize(len) + len;

function writeField(buf: Buffer, at: number, field: number, bytes: Uint8Array): number {
  buf[at++] = (field << 3) | 2;
  at = writeVarint(buf, at, bytes.length);
  buf.set(bytes, at);
  return at + bytes.length;
}

interface Parts {
  v: Buffer;
  t: Buffer;
  n: Buffer | undefined;
  size: number;
}

function parts(versionInfo: string, typeUrl: string, resources: readonly Uint8Array[], nonce?: string): Parts {
  const v = Buffer.from(versionInfo, 'utf8');
  const t = Buffer.from(typeUrl, 'utf8');
  const n = nonce === undefined ? undefined : Buffer.from(nonce, 'utf8');
  let size = fieldSize(v.length) + fieldSize(t.length) + (n ? fieldSize(n.length) : 0);
  for (const r of resources) size += fieldSize(r.length);
  return { v, t, n, size };
}

/** Writes the message; `placed(i, at)` is told where resource i's bytes start in `out`. */
function write(
  out: Buffer,
  p: Parts,
  resources: readonly Uint8Array[],
  placed?: (i: number, at: number) => void,
): void {
  let at = writeField(out, 0, 1, p.v);
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i]!;
    at = writeField(out, at, 2, r);
    placed?.(i, at - r.length);
  }
  at = writeField(out, at, 4, p.t);
  if (p.n) writeField(out, at, 5, p.n);
}

/** The response without a nonce, or with `nonce` written into the same buffer (a message shared by every stream). */
export function encodeResponseBody(
  versionInfo: string,
  typeUrl: string,
  resources: readonly Uint8Array[],
  nonce?: string,
): Buffer {
  const p = parts(versionInfo, typeUrl, resources, nonce);
  const out = Buffer.allocUnsafe(p.size);
  write(out, p, resources);
  return out;
}

/**
 * The same response framed for the gRPC wire (framed-write.ts), written once into one buffer: what the ADS server
 * hands to every stream. `unframe()` gives the DiscoveryResponse back. `placed(i, at)` is told where resource i's bytes
 * start in the body.
 */
export function encodeFramedResponse(
  versionInfo: string,
  typeUrl: string,
  resources: readonly Uint8Array[],
  nonce: string,
  placed?: (body: Buffer, i: number, at: number) => void,
): Buffer {
  const p = parts(versionInfo, typeUrl, resources, nonce);
  return frame(p.size, (body) => write(body, p, resources, placed && ((i, at) => placed(body, i, at))));
}

/**
 * encodeFramedResponse, plus each resource's bytes as a view into the message: views that can stand in for the
 * buffers they were copied from, so the process holds each resource's bytes once (in the message) instead of twice.
 */
export function encodeFramedResponseViews(
  versionInfo: string,
  typeUrl: string,
  resources: readonly Uint8Array[],
  nonce: string,
): { msg: Buffer; views: Buffer[] } {
  const views: Buffer[] = new Array(resources.length);
  const msg = encodeFramedResponse(versionInfo, typeUrl, resources, nonce, (body, i, at) => {
    views[i] = body.subarray(at, at + resources[i]!.length);
  });
  return { msg, views };
}

/**
 * Response bodies of the current snapshot, cleared when the snapshot moves on (old bodies are garbage). Keyed by the
 * snapshot object, not its version number: a new lineage (Redis lost its data, a rebuild) restarts version numbers.
 */
export class ResponseBodyCache {
  private readonly bodies = new Map<string, Buffer>();
  private snapshot: object | undefined;

  get(snapshot: object, key: string, build: () => Buffer): Buffer {
    if (snapshot !== this.snapshot) {
      this.bodies.clear();
      this.snapshot = snapshot;
    }
    let b = this.bodies.get(key);
    if (!b) {
      b = build();
      this.bodies.set(key, b);
    }
    return b;
  }
}
