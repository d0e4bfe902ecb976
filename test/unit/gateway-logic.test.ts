import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DiscoveryResponse } from '../../schemas/proto.ts';
import { fullSnapshot, patchSnapshot } from '../../services/xds-gateway/snapshot.ts';
import { shardOf } from '../../services/xds-gateway/shard.ts';
import { changedShards } from '../../services/xds-gateway/changed-shards.ts';
import { encodeResponseBody } from '../../services/xds-gateway/response-encoder.ts';
import { viewFor, select, ALL } from '../../services/xds-gateway/view.ts';
import { StreamState, type Send } from '../../services/xds-gateway/stream-state.ts';
import { serviceEntry } from '../../harness/snapshot-writer.ts';

const SE = 'networking.istio.io/v1/ServiceEntry';

describe('gateway pure logic', () => {
  it('a patched snapshot equals a snapshot built from scratch (names sorted, items aligned)', () => {
    const name = fc
      .tuple(fc.constantFrom('a', 'b', 'ns-1'), fc.stringMatching(/^[a-z0-9.]{1,6}$/))
      .map(([ns, h]) => `${ns}/${h}`);
    const field = fc.tuple(fc.constantFrom('ServiceEntry', 'WorkloadEntry'), name).map(([k, n]) => `${k}|${n}`);
    fc.assert(
      fc.property(
        fc.uniqueArray(field, { maxLength: 30 }),
        fc.array(fc.tuple(field, fc.boolean()), { maxLength: 15 }),
        fc.constantFrom(1, 4),
        (initial, changes, shards) => {
          const res = new Map(initial.map((f, i) => [f, Buffer.from(`v0-${i}-${f}`)]));
          const prev = fullSnapshot(1, 'l', true, res, shards);
          const next = new Map(res);
          const changed = new Map<string, Buffer | null>();
          for (const [i, [f, del]] of changes.entries()) {
            if (del) next.delete(f);
            else next.set(f, Buffer.from(`v1-${i}-${f}`));
            changed.set(f, next.get(f) ?? null);
          }
          const patched = patchSnapshot(prev, 2, true, changed, 0);
          const scratch = fullSnapshot(2, 'l', true, next, shards);
          // Fields of another kind (here WorkloadEntry, which is not served) are never listed.
          for (let s = 0; s < shards; s++) {
            const [p, f, before] = [
              patched.kinds.ServiceEntry[s]!,
              scratch.kinds.ServiceEntry[s]!,
              prev.kinds.ServiceEntry[s]!,
            ];
            assert.deepEqual(p.names, f.names);
            assert.deepEqual(p.items.map(String), f.items.map(String));
            assert.ok(f.names.every((n) => next.has(`ServiceEntry|${n}`) && shardOf(n, shards) === s));
            // A shard no change touched keeps its list: its streams are not pushed.
            const touched = changes.some(
              ([c]) => c.startsWith('ServiceEntry|') && shardOf(c.slice('ServiceEntry|'.length), shards) === s,
            );
            if (!touched) assert.equal(p, before);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a push tick visits exactly the shards a patch touched, and then none until the next change', () => {
    // Given a full snapshot over 8 shards whose lists a tick has already handled
    const res = new Map(Array.from({ length: 40 }, (_, i) => [`ServiceEntry|ns/h${i}`, Buffer.from(`v0-${i}`)]));
    const full = fullSnapshot(1, 'l', true, res, 8);
    const first = changedShards(full, 0);
    assert.deepEqual(first.shards, [0, 1, 2, 3, 4, 5, 6, 7]);
    // When two services change
    const changed = new Map<string, Buffer | null>([
      ['ServiceEntry|ns/h3', Buffer.from('v1')],
      ['ServiceEntry|ns/h17', null],
    ]);
    const next = changedShards(patchSnapshot(full, 2, true, changed, 0), first.maxSeq);
    // Then only their shards are visited
    assert.deepEqual(
      next.shards,
      [...new Set([shardOf('ns/h3', 8), shardOf('ns/h17', 8)])].sort((a, b) => a - b),
    );
    // And a snapshot with no list change (completeness unchanged) visits none
    assert.deepEqual(changedShards(patchSnapshot(full, 3, true, new Map(), 0), next.maxSeq).shards, []);
    // But completeness flipping re-offers every shard
    assert.equal(changedShards(patchSnapshot(full, 3, false, new Map(), 0), next.maxSeq).shards.length, 8);
  });

  it('encodes a DiscoveryResponse that protobuf decodes, with the nonce appended per stream', () => {
    const items = [
      serviceEntry({ namespace: 'a', host: 'x.a', endpoints: 200 })[1],
      serviceEntry({ namespace: 'a', host: 'y.a', endpoints: 1 })[1],
    ];
    const msg = encodeResponseBody('42', SE, items, 's1-7');
    const r = DiscoveryResponse.toObject(DiscoveryResponse.decode(msg), { defaults: true }) as {
      version_info: string;
      type_url: string;
      nonce: string;
      resources: { value: Uint8Array }[];
    };
    assert.equal(r.version_info, '42');
    assert.equal(r.type_url, SE);
    assert.equal(r.nonce, 's1-7');
    const Any = DiscoveryResponse.root.lookupType('google.protobuf.Any');
    assert.deepEqual(
      r.resources.map((a) => Buffer.from(Any.encode(a as never).finish())),
      items,
    );
  });

  it('views: per revision namespaces, else the default list, empty = everything', () => {
    const cfg = { namespaces: ['dubbo'], revisions: { canary: ['a', 'b'], all: [] } };
    assert.equal(viewFor(cfg, 'all'), ALL);
    const def = viewFor(cfg, '');
    assert.deepEqual([def.allows('dubbo/x'), def.allows('a/x')], [true, false]);
    const canary = viewFor(cfg, 'canary');
    assert.equal(canary.key, 'a,b');
    assert.deepEqual(select(canary, ['a/1', 'c/2', 'b/3'], [1, 2, 3]), [1, 3]);
    assert.equal(viewFor({ namespaces: [], revisions: {} }, 'x'), ALL);
  });

  it('stream state: first request subscribes whatever its nonce; ACK by nonce; waits for the ACK', () => {
    const s = new StreamState('s1');
    assert.equal(s.onRequest({ typeUrl: SE, responseNonce: '1745000000', versionInfo: '' }).kind, 'subscribe');
    const snap = { complete: true, changedAt: () => 3 };
    assert.equal(s.shouldSend(SE, { complete: false, changedAt: () => 3 }), false, 'withheld until complete');
    assert.equal(s.shouldSend(SE, snap), true);
    const nonce = '3.3';
    s.sent({ typeUrl: SE, version: '3', nonce, changedAt: 3 });
    assert.equal(s.shouldSend(SE, { complete: true, changedAt: () => 4 }), false, 'awaiting ACK');
    assert.equal(s.onRequest({ typeUrl: SE, responseNonce: 'other', versionInfo: '3' }).kind, 'stale');
    assert.deepEqual(s.onRequest({ typeUrl: SE, responseNonce: nonce, versionInfo: '3' }), {
      kind: 'ack',
      typeUrl: SE,
      version: '3',
    });
    assert.equal(s.shouldSend(SE, snap), false, 'nothing changed');
    assert.equal(s.shouldSend(SE, { complete: true, changedAt: () => 4 }), true);
    s.onRequest({ typeUrl: 'core/v1alpha1/MeshConfig', responseNonce: 'x', versionInfo: '' });
    assert.equal(
      s.shouldSend('core/v1alpha1/MeshConfig', undefined),
      true,
      'unserved types answered even without a snapshot',
    );
  });

  describe('send plan (given a stream state and a snapshot, when asked, then what to send)', () => {
    const MESH = 'core/v1alpha1/MeshConfig';
    const gate = (version: number, changedAt: number, complete = true) => ({
      version,
      complete,
      changedAt: () => changedAt,
    });
    const subscribed = (id: string) => {
      const s = new StreamState(id);
      s.onRequest({ typeUrl: MESH, responseNonce: '', versionInfo: '' });
      s.onRequest({ typeUrl: SE, responseNonce: '1745000000', versionInfo: '' });
      return s;
    };

    it('given no complete snapshot: only the empty answers of unserved types, each once', () => {
      const s = subscribed('s1');
      const plan = s.plan(gate(3, 1, false));
      assert.deepEqual(
        plan.map((p) => [p.typeUrl, p.served, p.nonce]),
        [[MESH, undefined, '3.0']],
      );
      s.sent(plan[0]!);
      s.onRequest({ typeUrl: MESH, responseNonce: '3.0', versionInfo: '3' });
      assert.deepEqual(s.plan(gate(4, 2, false)), [], 'an unserved type is answered once per stream');
    });

    it('given a complete snapshot: every stream gets the same nonce for the same kind list (one shared message)', () => {
      const a = subscribed('s1')
        .plan(gate(7, 5))
        .find((p) => p.typeUrl === SE);
      const b = subscribed('s2')
        .plan(gate(7, 5))
        .find((p) => p.typeUrl === SE);
      assert.deepEqual(a, b);
      assert.deepEqual(a, {
        typeUrl: SE,
        served: 'ServiceEntry',
        version: '7',
        nonce: '7.5',
        changedAt: 5,
        followUp: false,
      });
    });

    it('when a push awaits its ACK: nothing more; after the ACK only a changed list is sent, as a follow-up', () => {
      const s = subscribed('s1');
      for (const p of s.plan(gate(7, 5))) s.sent(p);
      assert.deepEqual(s.plan(gate(8, 6)), [], 'awaiting ACKs');
      s.onRequest({ typeUrl: SE, responseNonce: '7.5', versionInfo: '7' });
      assert.deepEqual(s.plan(gate(7, 5)), [], 'nothing changed');
      const next = s.plan(gate(9, 6));
      assert.deepEqual(
        next.map((p) => [p.typeUrl, p.nonce, p.followUp]),
        [[SE, '9.6', true]],
      );
    });
  });

  describe("istiod buffer padding (istiod keeps its config source's first 100 responses)", () => {
    const MESH = 'core/v1alpha1/MeshConfig';
    const gate = { version: 3, complete: true, changedAt: () => 2 };
    const sendAll = (s: StreamState, plan: Send[]) => {
      for (const p of plan) s.sent(p);
    };

    it('given padTo 5 and istiod asking MeshConfig first: its answer, then 4 empty MeshConfig answers, once', () => {
      const s = new StreamState('s1', 5);
      s.onRequest({ typeUrl: MESH, responseNonce: '', versionInfo: '' });
      const plan = s.plan(gate);
      assert.deepEqual(
        plan.map((p) => [p.typeUrl, p.nonce, p.padding ?? false]),
        [
          [MESH, '3.0', false],
          [MESH, '3.pad1', true],
          [MESH, '3.pad2', true],
          [MESH, '3.pad3', true],
          [MESH, '3.pad4', true],
        ],
      );
      sendAll(s, plan);
      s.onRequest({ typeUrl: SE, responseNonce: '1745000000', versionInfo: '' });
      assert.deepEqual(
        s.plan(gate).map((p) => [p.typeUrl, p.padding ?? false]),
        [[SE, false]],
        'padded once: the ServiceEntry answer comes after the padding',
      );
    });

    it('when the padding is acknowledged: only the last answer’s nonce is an ACK, the others are stale', () => {
      const s = new StreamState('s1', 3);
      s.onRequest({ typeUrl: MESH, responseNonce: '', versionInfo: '' });
      sendAll(s, s.plan(gate));
      assert.equal(s.onRequest({ typeUrl: MESH, responseNonce: '3.0', versionInfo: '3' }).kind, 'stale');
      assert.equal(s.onRequest({ typeUrl: MESH, responseNonce: '3.pad1', versionInfo: '3' }).kind, 'stale');
      assert.equal(s.onRequest({ typeUrl: MESH, responseNonce: '3.pad2', versionInfo: '3' }).kind, 'ack');
    });

    it('given responses already written: pads only up to padTo in all', () => {
      const s = new StreamState('s1', 4);
      s.onRequest({ typeUrl: SE, responseNonce: '', versionInfo: '' });
      sendAll(s, s.plan(gate));
      s.onRequest({ typeUrl: MESH, responseNonce: '', versionInfo: '' });
      assert.deepEqual(
        s.plan(gate).map((p) => p.nonce),
        ['3.0', '3.pad2', '3.pad3'],
      );
    });

    it('given padTo 0, or a client that never asks MeshConfig (not istiod): no padding', () => {
      const off = new StreamState('s1', 0);
      off.onRequest({ typeUrl: MESH, responseNonce: '', versionInfo: '' });
      assert.equal(off.plan(gate).length, 1);
      const probe = new StreamState('s2', 100);
      probe.onRequest({ typeUrl: SE, responseNonce: '', versionInfo: '' });
      assert.deepEqual(
        probe.plan(gate).map((p) => p.typeUrl),
        [SE],
      );
    });
  });

  it('shards: a stable hash spreads names evenly and never depends on anything but the name and the count', () => {
    assert.equal(shardOf('dubbo/org.example.a', 1), 0);
    assert.equal(shardOf('dubbo/org.example.a', 16), shardOf('dubbo/org.example.a', 16));
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(`ns-${i % 7}/svc-${i}.ns`, 16)]++;
    assert.ok(Math.min(...counts) > 800 && Math.max(...counts) < 1200, `even spread: ${counts.join(',')}`);
  });
});
