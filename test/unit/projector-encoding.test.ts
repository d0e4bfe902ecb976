import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeResource } from '../../schemas/mcp-envelope.ts';
import { encodeServiceEntryAny } from '../../schemas/service-entry/encode.ts';
import { buildServiceEntry } from '../../projection/build-service-entry.ts';
import type { ServiceFold } from '../../projection/fold-state.ts';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?$/);
const instance = fc.record({
  address: fc.ipV4(),
  ports: fc.constantFrom({ 'tcp-dubbo': 20880 }, { 'tcp-dubbo': 20881, http: 8080 }, { http: 8080 }),
  labels: fc.dictionary(label, label, { maxKeys: 4 }),
  weight: fc.constantFrom(0, 1, 100, 65535),
  locality: fc.constantFrom('', 'eu/west/a'),
});
const fold: fc.Arbitrary<ServiceFold> = fc
  .record({
    namespace: fc.constantFrom('dubbo', 'consul'),
    host: fc.constantFrom('a.example.local', 'svc-1.example.local'),
    createTimeMs: fc.integer({ min: 0, max: 2_000_000_000_000 }),
    sources: fc.dictionary(
      fc.constantFrom('zk1', 'zk2', 'dc1'),
      fc.record({
        sourceKind: fc.constant('zookeeper-dubbo'),
        registryService: fc.constant('com.example.Svc'),
        ports: fc.constantFrom(
          [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
          [
            { name: 'http', number: 8080, protocol: 'HTTP' },
            { name: 'tcp-dubbo', number: 20881, protocol: 'TCP' },
          ],
        ),
        instances: fc.array(instance, { maxLength: 12 }),
        orderToken: fc.constant(null),
        epoch: fc.constant(1),
        eventId: fc.constant('e'),
        observedAt: fc.constant(0),
      }),
      { minKeys: 1, maxKeys: 3 },
    ),
  })
  .map((x) => x as unknown as ServiceFold);

describe('projector hot-path encoder', () => {
  it('writes exactly the bytes of schemas encodeResource for every built ServiceEntry', () => {
    let compared = 0;
    fc.assert(
      fc.property(fold, fc.dictionary(label, label, { maxKeys: 3 }), (f, extraLabels) => {
        const built = buildServiceEntry(f);
        if (!built.ok) return;
        compared++;
        // Metadata maps in arbitrary insertion order: both encoders must sort them.
        const meta = { ...built.value.meta, labels: { ...extraLabels, ...built.value.meta.labels } };
        const reference = encodeResource('ServiceEntry', meta, built.value.body).any;
        assert.ok(encodeServiceEntryAny(meta, built.value.body).equals(reference));
      }),
      { numRuns: 500 },
    );
    assert.ok(compared > 250, `compared ${compared} valid ServiceEntries`);
  });
});
