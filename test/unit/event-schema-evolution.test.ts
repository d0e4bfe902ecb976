import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import {
  decodeEvent,
  encodeEvent,
  encodeEventAs,
  writerSchemaOf,
  SCHEMA_FILES,
  currentSchema,
} from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import { rabinFingerprint } from '../../schemas/rabin.ts';

const avroDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas', 'avro');

/** An event as a v1 meshbridge collector built it: no v2 fields at all. */
const v1Event = (): RegistryEvent => ({
  eventId: '7d3f0c1e-0000-4000-8000-000000000001',
  kind: 'SERVICE_STATE',
  sourceId: 'zk1',
  sourceKind: 'zookeeper-dubbo',
  collectorId: 'c-old',
  epoch: 1_700_000_000_000,
  generation: 'g1',
  observedAt: 1_700_000_000_123,
  namespace: 'dubbo',
  host: 'org.example.greeter',
  registryService: 'org.example.Greeter',
  orderToken: 4242,
  ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
  instances: [
    { address: '10.0.0.1', ports: { 'tcp-dubbo': 20880 }, labels: { app: 'greeter' }, weight: 100, locality: '' },
  ],
  issues: [],
  resyncServices: [],
  raw: '{"path":"/dubbo/org.example.Greeter/providers"}',
});

describe('registry event schema evolution', () => {
  it('lists every schema version oldest first, the newest being the reader', () => {
    assert.deepEqual(SCHEMA_FILES, ['registry-event.v1.avsc', 'registry-event.v2.avsc', 'registry-event.v3.avsc']);
    assert.equal(currentSchema.file, 'registry-event.v3.avsc');
  });

  it('v3 is backward compatible with v1 and v2: seq has a default', () => {
    const v3 = avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(avroDir, 'registry-event.v3.avsc'), 'utf8')));
    for (const old of ['registry-event.v1.avsc', 'registry-event.v2.avsc']) {
      assert.doesNotThrow(() =>
        v3.createResolver(avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(avroDir, old), 'utf8')))),
      );
    }
    const e = decodeEvent(encodeEventAs('registry-event.v2.avsc', v1Event()));
    assert.equal(e.seq, 0, 'an event without a sequence number reads as 0 (never judged a re-delivery)');
    assert.equal(decodeEvent(encodeEvent({ ...v1Event(), seq: 7 })).seq, 7);
  });

  it('v2 is backward compatible with v1: every added field has a default', () => {
    const v1 = avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(avroDir, 'registry-event.v1.avsc'), 'utf8')));
    const v2 = avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(avroDir, 'registry-event.v2.avsc'), 'utf8')));
    assert.doesNotThrow(() => v2.createResolver(v1)); // avsc refuses a resolver when a reader field lacks a default
  });

  it('decodes bytes a v1 writer produced with the current reader, filling the defaults', () => {
    // Bytes built with avsc straight from the v1 file — independent of encodeEventAs — as an old collector wrote them.
    const v1Type = avro.Type.forSchema(
      JSON.parse(fs.readFileSync(path.join(avroDir, 'registry-event.v1.avsc'), 'utf8')),
    );
    const fp = rabinFingerprint(Buffer.from(JSON.stringify(v1Type.schema())));
    const bytes = Buffer.concat([Buffer.from([0xc3, 0x01]), fp, v1Type.toBuffer(v1Event())]);
    assert.deepEqual(bytes, encodeEventAs('registry-event.v1.avsc', v1Event()));
    assert.equal(writerSchemaOf(bytes), 'registry-event.v1.avsc');

    const e = decodeEvent(bytes);
    assert.equal(e.collectorVersion, '');
    assert.deepEqual(e.instances[0]!.metadata, {});
    const { collectorVersion: _cv, seq: _seq, ...rest } = e;
    const expected = v1Event();
    // avsc decodes into record classes: compare plain data.
    const plain = JSON.parse(JSON.stringify({ ...rest, instances: rest.instances.map(({ metadata: _m, ...i }) => i) }));
    assert.deepEqual(plain, expected);
  });

  it('current writers may omit the new fields (the TS type marks them optional) and get the defaults', () => {
    const bytes = encodeEvent(v1Event());
    assert.equal(writerSchemaOf(bytes), 'registry-event.v3.avsc');
    const e = decodeEvent(bytes);
    assert.equal(e.collectorVersion, '');
    assert.deepEqual(e.instances[0]!.metadata, {});
  });

  it('round-trips the v2 fields', () => {
    const ev = { ...v1Event(), collectorVersion: '0.2.0' };
    ev.instances[0]!.metadata = { pid: '4242', release: '2.7.23' };
    const e = decodeEvent(encodeEvent(ev));
    assert.equal(e.collectorVersion, '0.2.0');
    assert.deepEqual(e.instances[0]!.metadata, { pid: '4242', release: '2.7.23' });
  });

  it('an old event replays to the same fold as the same event written with v2', async () => {
    const { Replay } = await import('../../projection/replay.ts');
    const a = new Replay();
    a.apply(0, [decodeEvent(encodeEventAs('registry-event.v1.avsc', v1Event()))]);
    const b = new Replay();
    b.apply(0, [decodeEvent(encodeEvent(v1Event()))]);
    assert.equal(a.resources.size, 1);
    assert.deepEqual([...a.resources], [...b.resources]);
  });
});
