import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { istiodSourceAddresses, istiodSourcesYaml, shardPorts } from '../../services/xds-gateway/istiod-sources.ts';

describe("istiod's configSources for a sharded gateway fleet", () => {
  it('given K shards, when listing ports, then shard i is grpcPort + i', () => {
    assert.deepEqual(shardPorts(18010, 4), [18010, 18011, 18012, 18013]);
    assert.deepEqual(shardPorts(18010, 1), [18010]);
  });

  it('given two hosts and 3 shards, when listing sources, then every shard of every host is listed once', () => {
    const a = istiodSourceAddresses({ hosts: ['gw-1', 'gw-2'], grpcPort: 18010, shards: 3 });
    assert.deepEqual(a, [
      'xds://gw-1:18010',
      'xds://gw-1:18011',
      'xds://gw-1:18012',
      'xds://gw-2:18010',
      'xds://gw-2:18011',
      'xds://gw-2:18012',
    ]);
  });

  it('given Kubernetes and a CA, when rendering YAML, then k8s:// comes first and each source carries tlsSettings', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const doc = parse(
      istiodSourcesYaml({ hosts: ['gw.ns.svc'], grpcPort: 18010, shards: 2, kubernetes: true, caPem: pem }),
    ) as { configSources: { address: string; tlsSettings?: Record<string, unknown> }[] };
    assert.deepEqual(
      doc.configSources.map((s) => s.address),
      ['k8s://', 'xds://gw.ns.svc:18010', 'xds://gw.ns.svc:18011'],
    );
    const tls = doc.configSources[2]!.tlsSettings!;
    assert.equal(tls.mode, 'SIMPLE');
    assert.equal(tls.sni, 'gw.ns.svc');
    assert.deepEqual(tls.subjectAltNames, ['gw.ns.svc']);
    assert.equal(tls.caCertificates, pem); // the PEM itself: istiod does not read a path
  });
});
