import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fullMatch, fullMatchProblem, nameFilter } from '../../services/shared/full-match.ts';
import { parseConfig } from '../../services/shared/config.ts';

const base = { kafka: { brokers: ['a:1'] }, redis: { url: 'redis://a:1' } };

function configError(source: Record<string, unknown>): string {
  try {
    parseConfig({ ...base, sources: [source] });
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('the config was accepted');
}

describe('full-match patterns (labelRules.match, excludeServices, excludeApps)', () => {
  it('match a whole name, not a part of it', () => {
    const keep = nameFilter(['consul', 'consumers:.*']);
    assert.equal(keep('consul'), false);
    assert.equal(keep('consul-ui'), true, 'a prefix match would drop it');
    assert.equal(keep('consumers:org.demo.Api::'), false);
    assert.equal(keep('providers:org.demo.Api::'), true);
    assert.equal(nameFilter([])('anything'), true);
  });

  it('compile once per pattern', () => {
    assert.equal(fullMatch('a|b'), fullMatch('a|b'));
    assert.equal(fullMatch('a|b').test('ab'), false, 'the alternation is grouped inside the anchors');
  });

  it('say why a pattern cannot be used, in both its forms', () => {
    assert.equal(fullMatchProblem('v[0-9]+'), undefined);
    assert.match(fullMatchProblem('(') ?? '', /^not a valid regular expression \(.+\)$/);
    // Valid once wrapped in ^(?:…)$, but only by closing the wrapper's group: it would mean something else.
    assert.match(fullMatchProblem('a)(b') ?? '', /not a valid regular expression/);
    // Valid alone, but its trailing escape would swallow the wrapper's closing parenthesis.
    assert.match(fullMatchProblem('abc\\') ?? '', /not a valid regular expression/);
  });

  it('are validated at start-up, the error naming the key, for every source kind that has them', () => {
    assert.match(
      configError({ id: 'c', kind: 'consul', excludeServices: ['consul', '[a-'] }),
      /sources\.0\.excludeServices\.1: not a valid regular expression/,
    );
    assert.match(
      configError({ id: 'n', kind: 'nacos', excludeServices: ['*'] }),
      /sources\.0\.excludeServices\.0: not a valid regular expression/,
    );
    assert.match(
      configError({ id: 'e', kind: 'eureka', excludeApps: ['a)(b'] }),
      /sources\.0\.excludeApps\.0: not a valid regular expression/,
    );
    assert.match(
      configError({ id: 'n', kind: 'nacos', labelRules: [{ match: '(' }] }),
      /sources\.0\.labelRules\.0\.match: not a valid regular expression/,
    );
  });
});
