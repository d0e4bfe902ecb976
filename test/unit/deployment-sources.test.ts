import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_GATEWAY_SHARDS, loadConfig } from '../../services/shared/config.ts';
import { istiodSourceAddresses } from '../../services/xds-gateway/istiod-sources.ts';
import { projectRoot } from '../../harness/paths.ts';

const read = (f: string) => parse(fs.readFileSync(path.join(projectRoot, f), 'utf8'));
const addresses = (mesh: { configSources: { address: string }[] }) => mesh.configSources.map((s) => s.address);

// istiod must list every shard of every gateway address: a missing one silently drops that shard's services. These
// files are written once (meshbridge istiod-config prints them); this keeps them in step with the config they serve.
describe('shipped istiod configs list every gateway shard', () => {
  it('docker-compose: both gateway replicas, every shard of deploy/compose/meshbridge.yaml', () => {
    const cfg = loadConfig(path.join(projectRoot, 'deploy/compose/meshbridge.yaml'), {});
    assert.deepEqual(
      addresses(read('deploy/compose/mesh.yaml')),
      istiodSourceAddresses({
        hosts: ['gateway-1', 'gateway-2'],
        grpcPort: cfg.gateway.grpcPort,
        shards: cfg.gateway.shards,
      }),
    );
  });

  it("Helm: the chart's default shard count is the product's, and istiod-values.yaml lists each of them", () => {
    const values = read('deploy/helm/meshbridge/values.yaml');
    assert.equal(values.config.gateway.shards, DEFAULT_GATEWAY_SHARDS);
    const sources = addresses(read('deploy/helm/istiod-values.yaml').meshConfig);
    assert.equal(sources[0], 'k8s://');
    const expected = Array.from({ length: DEFAULT_GATEWAY_SHARDS }, (_, i) => {
      const group = Math.floor(i / 100); // a Service holds at most 100 ports (templates/gateway.yaml)
      return `xds://meshbridge-gateway${group ? `-${group}` : ''}.meshbridge.svc:${values.ports.xds + i}`;
    });
    assert.deepEqual(sources.slice(1), expected);
  });
});
