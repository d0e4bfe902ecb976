import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DiscoveryRequest } from '../../schemas/proto.ts';
import { decodeDiscoveryRequest } from '../../services/xds-gateway/request-decoder.ts';

const encode = (o: object) => Buffer.from(DiscoveryRequest.encode(DiscoveryRequest.fromObject(o)).finish());

describe('gateway DiscoveryRequest decoder (by hand, no protobufjs in the gateway)', () => {
  it('reads what protobufjs writes: version, type, nonce, node id and string metadata, error detail', () => {
    const text = fc.string({ maxLength: 40 });
    fc.assert(
      fc.property(
        fc.record({
          version_info: text,
          type_url: text,
          response_nonce: text,
          resource_names: fc.array(text, { maxLength: 3 }),
          node: fc.option(
            fc.record({
              id: text,
              cluster: text,
              metadata: fc.dictionary(
                fc.string({ maxLength: 12 }),
                fc.oneof(
                  fc.record({ stringValue: text }),
                  fc.record({ numberValue: fc.double({ noNaN: true }) }),
                  fc.record({ boolValue: fc.boolean() }),
                  fc.record({ structValue: fc.record({ fields: fc.constant({ x: { stringValue: 'nested' } }) }) }),
                ),
                { maxKeys: 5 },
              ),
            }),
            { nil: undefined },
          ),
          error_detail: fc.option(fc.record({ code: fc.integer({ min: -5, max: 16 }), message: text }), {
            nil: undefined,
          }),
        }),
        (req) => {
          const { node, error_detail, ...rest } = req;
          const msg = encode({
            ...rest,
            ...(node ? { node: { id: node.id, cluster: node.cluster, metadata: { fields: node.metadata } } } : {}),
            ...(error_detail ? { error_detail } : {}),
          });
          const got = decodeDiscoveryRequest(msg);
          assert.equal(got.versionInfo, req.version_info);
          assert.equal(got.typeUrl, req.type_url);
          assert.equal(got.responseNonce, req.response_nonce);
          if (node) {
            const strings = Object.fromEntries(
              Object.entries(node.metadata).flatMap(([k, v]) => ('stringValue' in v ? [[k, v.stringValue]] : [])),
            );
            assert.deepEqual(got.node, { id: node.id, metadata: strings });
          } else assert.equal(got.node, undefined);
          if (error_detail) assert.deepEqual(got.errorDetail, { ...error_detail });
          else assert.equal(got.errorDetail, undefined);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects a truncated message with an error naming it', () => {
    const msg = encode({ type_url: 'networking.istio.io/v1/ServiceEntry', node: { id: 'istiod-1' } });
    assert.throws(() => decodeDiscoveryRequest(msg.subarray(0, msg.length - 3)), /DiscoveryRequest: /);
  });
});
