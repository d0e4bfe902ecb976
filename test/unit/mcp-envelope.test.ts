import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeResource, encodeResource } from '../../schemas/mcp-envelope.ts';
import { McpResource, protobuf } from '../../schemas/proto.ts';
import { decodeEvent, encodeEvent, EventDecodeError } from '../../schemas/event-codec.ts';
import { rabinFingerprint } from '../../schemas/rabin.ts';
import { encodeResponseBody } from '../../services/xds-gateway/response-encoder.ts';
import { DiscoveryResponse } from '../../schemas/proto.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';

const body = {
  hosts: ['a.svc'],
  ports: [{ number: 20880, protocol: 'TCP', name: 'tcp-dubbo' }],
  location: 1,
  resolution: 1,
  endpoints: [{ address: '10.0.0.1', ports: { 'tcp-dubbo': 20880 }, labels: { version: '1', app: 'x' } }],
};
const meta = {
  name: 'dubbo/a.svc',
  createTimeMs: 1_700_000_000_123,
  labels: { 'app.kubernetes.io/managed-by': 'meshbridge' },
  annotations: {},
};

describe('MCP envelope', () => {
  it('wraps the body as Any(istio.mcp.v1alpha1.Resource) with a v1alpha3 ServiceEntry body, name, create_time and content version', () => {
    const r = encodeResource('ServiceEntry', meta, body);
    const Any = McpResource.root.lookupType('google.protobuf.Any');
    const outer = Any.decode(r.any) as unknown as { type_url: string };
    assert.equal(outer.type_url, 'type.googleapis.com/istio.mcp.v1alpha1.Resource');
    const d = decodeResource(r.any);
    assert.equal(d.bodyType, 'type.googleapis.com/istio.networking.v1alpha3.ServiceEntry');
    assert.equal(d.name, 'dubbo/a.svc');
    assert.equal(d.createTimeMs, 1_700_000_000_123);
    assert.equal(d.version, r.version);
    assert.match(r.version, /^[0-9a-f]{16}$/);
    assert.deepEqual((d.body as { hosts: string[] }).hosts, ['a.svc']);
  });

  it('gives equal bytes for equal content whatever the map insertion order, and a new version when content changes', () => {
    const a = encodeResource('ServiceEntry', meta, body);
    const b = encodeResource('ServiceEntry', meta, {
      ...body,
      endpoints: [{ ...body.endpoints[0]!, labels: { app: 'x', version: '1' } }],
    });
    assert.deepEqual(a.any, b.any);
    const c = encodeResource('ServiceEntry', meta, { ...body, endpoints: [] });
    assert.notEqual(c.version, a.version);
  });

  it('assembles a DiscoveryResponse from pre-encoded resources that decodes as envoy would', () => {
    const r = encodeResource('ServiceEntry', meta, body);
    const msg = encodeResponseBody('7', 'networking.istio.io/v1/ServiceEntry', [r.any], 'n-1');
    const d = DiscoveryResponse.toObject(DiscoveryResponse.decode(msg)) as {
      version_info: string;
      type_url: string;
      nonce: string;
      resources: { type_url: string; value: Uint8Array }[];
    };
    assert.equal(d.version_info, '7');
    assert.equal(d.type_url, 'networking.istio.io/v1/ServiceEntry');
    assert.equal(d.nonce, 'n-1');
    assert.equal(d.resources.length, 1);
    const Any = McpResource.root.lookupType('google.protobuf.Any');
    assert.deepEqual(Buffer.from(Any.encode(Any.fromObject(d.resources[0]!)).finish()), r.any);
  });
  void protobuf;
});

describe('event codec (Avro single-object encoding)', () => {
  const e: RegistryEvent = {
    eventId: 'x',
    kind: 'SERVICE_STATE',
    sourceId: 's',
    sourceKind: 'zookeeper-dubbo',
    collectorId: 'c',
    epoch: 1,
    generation: 'g',
    observedAt: 1_700_000_000_000,
    namespace: 'n',
    host: 'h',
    registryService: 'r',
    orderToken: 5,
    ports: [],
    issues: [],
    resyncServices: [],
    raw: null,
    instances: [{ address: '1.2.3.4', ports: { a: 1 }, labels: { k: 'v' }, weight: 1, locality: '' }],
  };
  it('starts with C3 01 and the schema fingerprint, and round-trips', () => {
    const b = encodeEvent(e);
    assert.deepEqual([...b.subarray(0, 2)], [0xc3, 0x01]);
    const d = decodeEvent(b);
    assert.equal(d.host, 'h');
    // The current reader fills fields newer than the writer's data with their defaults (instance metadata).
    assert.deepEqual({ ...d.instances[0] }, { ...e.instances[0], metadata: {} });
  });
  it('rejects bytes that are not single-object encoded, or of an unknown schema, with a clear error', () => {
    assert.throws(
      () => decodeEvent(Buffer.from('hello world')),
      (err: Error) => err instanceof EventDecodeError && /C3 01/.test(err.message),
    );
    const unknown = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 7), Buffer.from([0])]);
    assert.throws(() => decodeEvent(unknown), /unknown writer schema fingerprint/);
    const truncated = encodeEvent(e).subarray(0, 20);
    assert.throws(() => decodeEvent(truncated), /undecodable/);
  });
  it("computes the CRC-64-AVRO fingerprint of the spec's example", () => {
    assert.equal(rabinFingerprint(Buffer.from('"int"')).toString('hex'), '8f5c393f1ad57572');
  });
});
