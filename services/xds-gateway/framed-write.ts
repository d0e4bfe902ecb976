/**
 * Pre-framed gRPC messages: a response built once (5-byte gRPC prefix + DiscoveryResponse) is written to every
 * istiod stream as the same Buffer, without grpc-js's per-write copy.
 *
 * grpc-js frames every server write by allocating length + 5 bytes and copying the serialised message into it
 * (BaseServerInterceptingCall.serializeMessage). For a 10 MiB state pushed to 20 istiods that is 200 MiB of copies
 * and garbage per change — measured as most of the fan-out's CPU. This module wraps that one method: a Buffer
 * produced by `frame()` (and so listed here) is already framed and passes through; anything else takes grpc-js's own
 * path. Node's HTTP/2 stream keeps a reference to a written Buffer (no copy), so one immutable buffer serves all
 * streams. Everything else of grpc-js stays as it is: keepalive, flow control and 'drain', status trailers, TLS.
 *
 * The wrapped method is internal to grpc-js: the versions it was checked against are pinned below, and a gateway on
 * any other version, or one where the method is missing, refuses to start instead of silently copying again.
 *
 * Both are imported statically, not required at run time: in the gateway's single-file bundle (scripts/bundle.ts) a
 * run-time require would load a second grpc-js from node_modules and patch a prototype the server never uses.
 */
import grpcPackage from '@grpc/grpc-js/package.json' with { type: 'json' };
import interceptors from '@grpc/grpc-js/build/src/server-interceptors.js';

/** grpc-js minors whose BaseServerInterceptingCall.serializeMessage was read (1.14.7); package.json pins ~1.14.7. */
const CHECKED = { major: 1, minMinor: 14, maxMinor: 14 };
const PREFIX = 5;

const framed = new WeakSet<Buffer>();

/**
 * A message framed for the gRPC wire: byte 0 = 0 (not compressed; grpc-js never compresses server responses),
 * bytes 1..4 = body length (big-endian), then the body. `build` writes the body into the buffer it is given (sized
 * `bodyLength`), so the body is written once, in place.
 */
export function frame(bodyLength: number, build: (body: Buffer) => void): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + bodyLength);
  out[0] = 0;
  out.writeUInt32BE(bodyLength, 1);
  build(out.subarray(PREFIX));
  framed.add(out);
  return out;
}

/** The DiscoveryResponse inside a framed message (a view, not a copy). */
export function unframe(msg: Buffer): Buffer {
  return framed.has(msg) ? msg.subarray(PREFIX) : msg;
}

interface ServerCallPrototype {
  serializeMessage(this: unknown, value: unknown): Buffer;
}

let installed = false;

/**
 * Makes grpc-js's server pass framed messages through. Idempotent; throws (at gateway start-up) when the installed
 * grpc-js is not a checked version or lacks the method.
 */
export function installFramedWrites(): void {
  if (installed) return;
  const version = grpcPackage.version;
  const [major, minor] = version.split('.').map(Number);
  const where = `@grpc/grpc-js ${version}: pre-framed writes (services/xds-gateway/framed-write.ts)`;
  if (major !== CHECKED.major || minor! < CHECKED.minMinor || minor! > CHECKED.maxMinor)
    throw new Error(
      `${where} are checked against ${CHECKED.major}.${CHECKED.minMinor}–${CHECKED.major}.${CHECKED.maxMinor} ` +
        'only; check BaseServerInterceptingCall.serializeMessage in the new version and extend CHECKED, or pin grpc-js',
    );
  const mod = interceptors as unknown as { BaseServerInterceptingCall?: { prototype: ServerCallPrototype } };
  const proto = mod.BaseServerInterceptingCall?.prototype;
  const original = proto?.serializeMessage;
  if (!proto || typeof original !== 'function')
    throw new Error(`${where}: BaseServerInterceptingCall.serializeMessage is missing; the hook cannot work`);
  proto.serializeMessage = function serializeMessage(this: unknown, value: unknown): Buffer {
    return Buffer.isBuffer(value) && framed.has(value) ? value : original.call(this, value);
  };
  installed = true;
}
