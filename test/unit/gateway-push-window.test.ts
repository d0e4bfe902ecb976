import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pushDelay } from '../../services/xds-gateway/push-window.ts';

describe('push window (leading edge, one trailing push per window)', () => {
  it('pushes at once when nothing was pushed within the window', () => {
    assert.equal(pushDelay(-Infinity, 1000, 50), 0);
    assert.equal(pushDelay(900, 1000, 50), 0);
    assert.equal(pushDelay(950, 1000, 50), 0);
  });
  it('waits for the end of the window that began with the last push', () => {
    assert.equal(pushDelay(980, 1000, 50), 30);
    assert.equal(pushDelay(1000, 1000, 50), 50);
  });
  it('a zero window never waits', () => assert.equal(pushDelay(1000, 1000, 0), 0));
});
