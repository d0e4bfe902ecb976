import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { COMBINATIONS, select } from '../matrix/combinations.ts';
import { mergeResults, renderTable, type MatrixResult } from '../matrix/results.ts';
import { projectRoot } from '../../harness/paths.ts';

const result = (combination: string, test: string, status: MatrixResult['status'], at: string): MatrixResult => ({
  combination,
  neighbour: 'Kafka',
  version: '4.4.0',
  test,
  status,
  seconds: 1,
  at,
  log: 'x.log',
});

describe('version matrix combinations', () => {
  it('names only e2e tests that exist, with unique combination names', () => {
    assert.equal(new Set(COMBINATIONS.map((c) => c.name)).size, COMBINATIONS.length);
    for (const c of COMBINATIONS) {
      for (const t of c.tests) {
        assert.ok(fs.existsSync(path.join(projectRoot, 'test', 'e2e', `${t}.test.ts`)), `${c.name}: ${t}`);
      }
    }
  });

  it('selects the matrix without the npm-test subset by default, the subset with --npm-test, names as given', () => {
    const sub = select(['--npm-test']);
    assert.ok(sub.length > 0 && sub.every((c) => c.inNpmTest));
    assert.ok(select([]).every((c) => !c.inNpmTest));
    assert.deepEqual(
      select(['dubbo-2.7']).map((c) => c.name),
      ['dubbo-2.7'],
    );
    assert.throws(() => select(['kafka-9']), /unknown combination\(s\) kafka-9; known: /);
  });

  it('keeps earlier results of combinations not rerun and replaces rerun ones', () => {
    const merged = mergeResults(
      [
        result('kafka-4', 'audit-replay', 'fail', '2026-01-01T00:00:00Z'),
        result('zookeeper-3.9', 'dubbo-to-istiod', 'pass', '2026-01-01T00:00:00Z'),
      ],
      [result('kafka-4', 'audit-replay', 'pass', '2026-01-02T00:00:00Z')],
    );
    assert.deepEqual(
      merged.map((r) => [r.combination, r.status]),
      [
        ['kafka-4', 'pass'],
        ['zookeeper-3.9', 'pass'],
      ],
    );
    const row = /\| kafka-4 \| Kafka \| 4\.4\.0 \| audit-replay \| pass \| 1 \| {2}\| 2026-01-02 00:00 \|/;
    assert.match(renderTable(merged), row);
  });
});
