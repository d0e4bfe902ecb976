import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keysReadBy, labelsFromMap, type KeyValueRule } from '../../services/collector/label-rules.ts';

// `(?:x)` means what `x` means but is not a plain name, so it takes the regex path: the two paths must agree.
const asRegex = (rules: KeyValueRule[]) => rules.map((r) => ({ ...r, match: `(?:${r.match})` }));

const maps: Record<string, string>[] = [
  {},
  { version: '1.0.0', application: 'demo', 'dubbo.tag': 'gray', env: 'prod' },
  { versionX: 'no', dubboXtag: 'no', 'dubbo.tag': '' },
  { constructor: 'c', toString: 't', __proto__: 'p' } as Record<string, string>,
  JSON.parse('{"__proto__": "own", "valueOf": "v"}') as Record<string, string>,
];

describe('label rules over one map (Dubbo parameters, Eureka and Nacos metadata)', () => {
  it('given rules that name a key, then the lookup gives what the regex gives, for any map', () => {
    const rules: KeyValueRule[] = [
      { match: 'application', label: 'app' },
      { match: 'version' },
      { match: 'dubbo\\.tag', label: 'dubbo.apache.org/tag' },
      { match: 'env', label: 'track', value: 'env-{value}' },
      { match: 'constructor' },
      { match: '__proto__', label: 'proto' },
      { match: 'valueOf', label: 'app' },
    ];
    for (const map of maps) assert.deepEqual(labelsFromMap(rules, map), labelsFromMap(asRegex(rules), map));
  });

  it('given the keys rules read, then a plain name is that key only and a pattern what it matches', () => {
    const reads = keysReadBy([{ match: 'dubbo\\.tag' }, { match: 'version' }, { match: 'x-(.+)' }]);
    assert.deepEqual(['dubbo.tag', 'dubboXtag', 'version', 'versions', 'x-zone', 'x-', 'timestamp'].filter(reads), [
      'dubbo.tag',
      'version',
      'x-zone',
    ]);
  });

  it('given a template over the match, then labels and values are built from it; the first rule to set a label wins', () => {
    assert.deepEqual(
      labelsFromMap(
        [
          { match: 'x-(?<k>.+)', label: 'example.com/$<k>' },
          { match: 'x-zone', label: 'example.com/zone', value: 'never' },
        ],
        { 'x-zone': 'a', 'x-rack': 'r1' },
      ),
      { 'example.com/zone': 'a', 'example.com/rack': 'r1' },
    );
  });
});
