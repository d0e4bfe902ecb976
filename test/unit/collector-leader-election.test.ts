import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, isValid, marginOf, tickOf, withRenewal } from '../../services/collector/leader-election.ts';
import { emptyProtectionDecision } from '../../schemas/registry-read.ts';

const LEASE = 3000;
const held = (epoch: number) => ({ held: true, epoch, holder: 'me' });
const other = (epoch: number) => ({ held: false, epoch, holder: 'other' });

describe('leader election decisions', () => {
  it("a background renewal of the leader's epoch extends it from when that renewal was sent", () => {
    const l = { epoch: 7, validUntil: 3700 };
    assert.deepEqual(withRenewal(l, { epoch: 7, sentAt: 5000 }, LEASE), {
      epoch: 7,
      validUntil: 5000 + LEASE - marginOf(LEASE),
    });
    // An older renewal, another epoch's, or none changes nothing.
    assert.equal(withRenewal(l, { epoch: 7, sentAt: 100 }, LEASE), l);
    assert.equal(withRenewal(l, { epoch: 6, sentAt: 5000 }, LEASE), l);
    assert.equal(withRenewal(l, undefined, LEASE), l);
    assert.equal(withRenewal(undefined, { epoch: 7, sentAt: 5000 }, LEASE), undefined);
  });

  it('a follower that gets the lease starts with its epoch, valid until sentAt + lease - margin', () => {
    const { next, action } = decide(undefined, held(7), 1000, 1010, LEASE);
    assert.deepEqual(action, { kind: 'start', epoch: 7 });
    assert.equal(next!.validUntil, 1000 + LEASE - marginOf(LEASE));
  });

  it('a leader that renews keeps running and extends from when it sent the renewal', () => {
    const { next, action } = decide({ epoch: 7, validUntil: 3700 }, held(7), 2000, 2500, LEASE);
    assert.deepEqual(action, { kind: 'none' });
    assert.equal(next!.validUntil, 2000 + LEASE - marginOf(LEASE));
  });

  it('a leader whose lease went to another replica stops at once', () => {
    const { next, action } = decide({ epoch: 7, validUntil: 3700 }, other(8), 2000, 2001, LEASE);
    assert.equal(next, undefined);
    assert.equal(action.kind, 'stop');
  });

  it('a leader that got the lease back under a new epoch (it had lapsed) restarts, never mixes epochs', () => {
    const { action } = decide({ epoch: 7, validUntil: 3700 }, held(9), 2000, 2001, LEASE);
    assert.deepEqual(action, { kind: 'restart', epoch: 9, reason: 'lease lapsed; new epoch 9' });
  });

  it('when Redis fails, a leader keeps going only while its lease is certainly valid', () => {
    const cur = { epoch: 7, validUntil: 3700 };
    assert.deepEqual(decide(cur, new Error('down'), 3000, 3100, LEASE).action, { kind: 'none' });
    assert.equal(decide(cur, new Error('down'), 3600, 3700, LEASE).action.kind, 'stop');
    assert.deepEqual(decide(undefined, new Error('down'), 3600, 3700, LEASE).action, { kind: 'none' });
  });

  it('an answer that arrives after the lease it grants has run out is not acted on (paused process)', () => {
    assert.equal(decide({ epoch: 7, validUntil: 3700 }, held(7), 1000, 1000 + LEASE, LEASE).action.kind, 'stop');
    assert.deepEqual(decide(undefined, held(7), 1000, 1000 + LEASE, LEASE).action, { kind: 'none' });
  });

  it('ticks leave room for two failed renewals within one lease', () => {
    assert.ok(tickOf(LEASE) * 2 < LEASE - marginOf(LEASE));
    assert.ok(isValid({ epoch: 1, validUntil: 10 }, 9));
    assert.ok(!isValid({ epoch: 1, validUntil: 10 }, 10));
    assert.ok(!isValid(undefined, 0));
  });
});

describe('empty-instance protection', () => {
  it('off publishes empties; keep-last holds a sudden empty but not a service that never had instances', () => {
    assert.equal(emptyProtectionDecision('off', 5, 0), 'publish');
    assert.equal(emptyProtectionDecision('keep-last', 5, 0), 'hold');
    assert.equal(emptyProtectionDecision('keep-last', undefined, 0), 'publish');
    assert.equal(emptyProtectionDecision('keep-last', 0, 0), 'publish');
    assert.equal(emptyProtectionDecision('keep-last', 5, 1), 'publish');
  });
});
