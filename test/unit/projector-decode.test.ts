import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, encodeEvent, encodeEventAs, SCHEMA_FILES, EventDecodeError } from '../../schemas/event-codec.ts';
import { decodeForFold } from '../../projection/decode-projection.ts';
import { UNUSED_BY_FOLD } from '../../projection/fold-state.ts';
import { stateEvent, removedEvent } from '../../harness/projector-kit.ts';

const strip = (e: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(e).filter(([k]) => !(UNUSED_BY_FOLD as readonly string[]).includes(k)));

describe('projector decoder', () => {
  it('reads every writer schema exactly as decodeEvent does, minus the fields the fold never reads', () => {
    const events = [
      stateEvent(1, { orderToken: 3 }),
      stateEvent(2, { instances: 0 }),
      removedEvent(3, { orderToken: 9 }),
    ];
    for (const e of events) {
      for (const file of SCHEMA_FILES) {
        const bytes = file === SCHEMA_FILES[SCHEMA_FILES.length - 1] ? encodeEvent(e) : encodeEventAs(file, e);
        const plain = (x: unknown) => JSON.parse(JSON.stringify(x)) as Record<string, unknown>;
        assert.deepEqual(plain(decodeForFold(bytes)), strip(plain(decodeEvent(bytes))), file);
      }
    }
  });

  it('rejects what decodeEvent rejects, with an EventDecodeError', () => {
    const good = encodeEvent(stateEvent(1));
    for (const bad of [
      Buffer.from('nope'),
      Buffer.concat([good.subarray(0, 2), Buffer.alloc(8), good.subarray(10)]),
      good.subarray(0, 20),
    ]) {
      assert.throws(() => decodeEvent(bad), EventDecodeError);
      assert.throws(() => decodeForFold(bad), EventDecodeError);
    }
  });
});
