import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_TEMPLATE_VARS, hostTemplateProblem } from '../../services/shared/host-template.ts';
import { parseConfig } from '../../services/shared/config.ts';

const base = { kafka: { brokers: ['a:1'] }, redis: { url: 'redis://a:1' } };

function configProblems(source: Record<string, unknown>): string {
  try {
    parseConfig({ ...base, sources: [source] });
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

describe('host templates', () => {
  it('accept the documented placeholders of each kind', () => {
    for (const [template, vars] of [
      ['{service}.{datacenter}.consul', HOST_TEMPLATE_VARS.consul],
      ['{version}.{group}.{interface}', HOST_TEMPLATE_VARS.dubboInterface],
      ['{app}.svc.{source}', HOST_TEMPLATE_VARS.dubboApplication],
      ['{vip}.svc', HOST_TEMPLATE_VARS.eureka],
      ['{service}.{group}.{nacosNamespace}', HOST_TEMPLATE_VARS.nacos],
      ['{version}.{interface}', HOST_TEMPLATE_VARS.nacosInterface],
    ] as const)
      assert.equal(hostTemplateProblem(template, vars), undefined, template);
  });

  it('refuse a misspelt placeholder, naming it and what the template knows', () => {
    assert.equal(
      hostTemplateProblem('{servce}.consul', HOST_TEMPLATE_VARS.consul),
      'unknown placeholder {servce}; this template knows {service}, {datacenter}, {source}',
    );
    // A placeholder of another kind is as wrong: Consul has no {app}, it would render empty.
    assert.match(hostTemplateProblem('{app}', HOST_TEMPLATE_VARS.consul) ?? '', /unknown placeholder \{app\}/);
  });

  it('refuse a template that names no service: every service would become one host', () => {
    assert.equal(
      hostTemplateProblem('{source}.consul', HOST_TEMPLATE_VARS.consul),
      'names no service: use {service}, or every service gets the same host',
    );
    assert.match(hostTemplateProblem('eureka.local', HOST_TEMPLATE_VARS.eureka) ?? '', /use one of \{app\}, \{vip\}/);
  });

  it('refuse a brace that is not a placeholder', () => {
    assert.match(hostTemplateProblem('{service.svc', HOST_TEMPLATE_VARS.consul) ?? '', /not part of a placeholder/);
    assert.match(hostTemplateProblem('{service}}', HOST_TEMPLATE_VARS.consul) ?? '', /not part of a placeholder/);
  });

  it('are checked at start-up for every source kind, the error naming the key', () => {
    assert.match(
      configProblems({ id: 'c', kind: 'consul', hostTemplate: '{servce}' }),
      /sources\.0\.hostTemplate: unknown placeholder \{servce\}/,
    );
    assert.match(
      configProblems({ id: 'e', kind: 'eureka', hostTemplate: 'apps.local' }),
      /sources\.0\.hostTemplate: names no service/,
    );
    const nacos = configProblems({ id: 'n', kind: 'nacos', hostTemplate: '{app}', interfaceHostTemplate: '{grup}' });
    assert.match(nacos, /sources\.0\.hostTemplate: unknown placeholder \{app\}/);
    assert.match(nacos, /sources\.0\.interfaceHostTemplate: unknown placeholder \{grup\}/);
  });

  it('of a ZooKeeper source are checked against its mode', () => {
    const zk = { id: 'z', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181' };
    assert.equal(configProblems({ ...zk, hostTemplate: '{version}.{interface}' }), '');
    assert.match(
      configProblems({ ...zk, hostTemplate: '{app}' }),
      /sources\.0\.hostTemplate: unknown placeholder \{app\}; this template knows \{interface\}/,
    );
    assert.equal(configProblems({ ...zk, mode: 'application', hostTemplate: '{app}.{source}' }), '');
    assert.match(
      configProblems({ ...zk, mode: 'application', hostTemplate: '{version}.{app}' }),
      /sources\.0\.hostTemplate: unknown placeholder \{version\}/,
    );
    assert.match(
      configProblems({ ...zk, mode: 'application', mappingRoot: '/dubbo/mapping', interfaceHostTemplate: 'x' }),
      /sources\.0\.interfaceHostTemplate: names no service: use \{interface\}/,
    );
  });
});
