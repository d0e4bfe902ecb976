import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdvisoryOffsets } from '../../services/projector/advisory-offsets.ts';

describe('projector advisory offsets (Kafka lag tooling, paced)', () => {
  it('given nothing sent yet, the first position is sent at once', () => {
    const a = new AdvisoryOffsets(1_000);
    assert.equal(a.record(0, '10', 5_000), 0);
    assert.deepEqual(a.take(5_000), [{ partition: 0, offset: '10' }]);
  });

  it('given a send 300 ms ago, later positions wait the rest of the interval and go out together, newest only', () => {
    const a = new AdvisoryOffsets(1_000);
    a.record(0, '10', 5_000);
    a.take(5_000);
    assert.equal(a.record(0, '11', 5_300), 700);
    assert.equal(a.record(2, '40', 5_400), 600);
    assert.equal(a.record(0, '12', 5_900), 100);
    assert.deepEqual(a.take(6_000), [
      { partition: 0, offset: '12' },
      { partition: 2, offset: '40' },
    ]);
    assert.deepEqual(a.take(6_000), [], 'nothing is sent twice');
  });

  it('given a partition moved to another replica, its pending position is never sent by this one', () => {
    const a = new AdvisoryOffsets(1_000);
    a.take(0);
    a.record(1, '7', 0);
    a.record(1, '8', 100);
    a.forget(1);
    assert.deepEqual(a.take(2_000), []);
  });

  it('given an empty take, the interval does not restart (the next position is not held back)', () => {
    const a = new AdvisoryOffsets(1_000);
    a.record(0, '1', 0);
    a.take(0);
    a.take(1_500);
    assert.equal(a.record(0, '2', 1_600), 0);
  });

  it('given interval 0, every position is sent at once (the pre-pacing behaviour)', () => {
    const a = new AdvisoryOffsets(0);
    a.take(0);
    a.record(0, '1', 0);
    assert.equal(a.record(0, '2', 0), 0);
  });
});
