import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { istiodEnvWarnings, parseIstiodEnv } from '../../bench/istiod-env.ts';

describe('BENCH_ISTIOD_ENV', () => {
  it('parses NAME=value pairs, splitting at the first = only', () => {
    assert.deepEqual(parseIstiodEnv('GOGC=400,GODEBUG=gctrace=1'), { GOGC: '400', GODEBUG: 'gctrace=1' });
    assert.deepEqual(parseIstiodEnv(undefined), {});
    assert.deepEqual(parseIstiodEnv(''), {});
  });

  it('refuses a pair without a name', () => {
    assert.throws(() => parseIstiodEnv('GOGC=400,=1'), /'=1' is not NAME=value/);
    assert.throws(() => parseIstiodEnv('GOGC'), /'GOGC' is not NAME=value/);
  });

  it('warns when debounce timings are set but endpoint pushes stay undebounced', () => {
    const recommended = { PILOT_ENABLE_EDS_DEBOUNCE: 'false', GOGC: '200' };
    const w = istiodEnvWarnings({ ...recommended, PILOT_DEBOUNCE_AFTER: '100ms', PILOT_DEBOUNCE_MAX: '500ms' });
    assert.equal(w.length, 1);
    assert.match(w[0]!, /PILOT_DEBOUNCE_AFTER and PILOT_DEBOUNCE_MAX set while PILOT_ENABLE_EDS_DEBOUNCE is false/);
  });

  it('is silent when the settings are consistent', () => {
    assert.deepEqual(
      istiodEnvWarnings({
        PILOT_ENABLE_EDS_DEBOUNCE: 'true',
        PILOT_DEBOUNCE_AFTER: '100ms',
        PILOT_DEBOUNCE_MAX: '500ms',
      }),
      [],
    );
    assert.deepEqual(istiodEnvWarnings({ PILOT_ENABLE_EDS_DEBOUNCE: 'false', GOGC: '200' }), []);
  });
});
