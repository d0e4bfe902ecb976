import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DataIssue } from '../../schemas/registry-event.ts';
import { portsAndInstances, type PortCandidate } from '../../services/collector/service-ports.ts';

const at = (address: string, port: number, protocol = 'GRPC', labels: Record<string, string> = {}): PortCandidate => ({
  address,
  port,
  protocol,
  labels,
  weight: 1,
  locality: '',
});

describe('portsAndInstances: ports and endpoints of instances that each serve one protocol on one port', () => {
  it('one protocol: one port named by it, numbered by the configured service port', () => {
    const issues: DataIssue[] = [];
    const { ports, instances } = portsAndInstances([at('10.0.0.2', 9000), at('10.0.0.1', 9001)], 80, issues);
    assert.deepEqual(ports, [{ name: 'grpc', number: 80, protocol: 'GRPC' }]);
    assert.deepEqual(
      instances.map((i) => [i.address, i.ports]),
      [
        ['10.0.0.1', { grpc: 9001 }],
        ['10.0.0.2', { grpc: 9000 }],
      ],
    );
    assert.deepEqual(issues, []);
  });

  it('two protocols: each numbered by its lowest instance port, the configured port ignored', () => {
    const { ports } = portsAndInstances([at('10.0.0.1', 9000), at('10.0.0.2', 8080, 'HTTP')], 80, []);
    assert.deepEqual(ports, [
      { name: 'grpc', number: 9000, protocol: 'GRPC' },
      { name: 'http', number: 8080, protocol: 'HTTP' },
    ]);
  });

  it('two protocols on one number: the second by name is dropped, reported, and its instances left out', () => {
    const issues: DataIssue[] = [];
    const { ports, instances } = portsAndInstances([at('10.0.0.1', 9000), at('10.0.0.2', 9000, 'HTTP')], 80, issues);
    assert.deepEqual(
      ports.map((p) => p.name),
      ['grpc'],
    );
    assert.deepEqual(
      instances.map((i) => i.address),
      ['10.0.0.1'],
    );
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.value, 'http:9000');
  });

  it('one address:port seen twice (re-registered, or in two clusters) is one endpoint: the first', () => {
    const { instances } = portsAndInstances(
      [at('10.0.0.1', 9000, 'GRPC', { v: 'first' }), at('10.0.0.1', 9000, 'GRPC', { v: 'second' })],
      undefined,
      [],
    );
    assert.equal(instances.length, 1);
    assert.deepEqual(instances[0]?.labels, { v: 'first' });
  });
});
