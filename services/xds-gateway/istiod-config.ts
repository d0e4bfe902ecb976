import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from '../../services/shared/config.ts';
import { MeshbridgeError } from '../../services/shared/errors.ts';
import { istiodSourcesYaml } from './istiod-sources.ts';

/**
 * `meshbridge istiod-config`: prints the `configSources` block istiod needs for this config's gateways (every shard
 * of every --host), with the recommended istiod setting as a comment. Bad arguments throw a MeshbridgeError (exit 1).
 */
export function runIstiodConfig(args: string[], config: Config): number {
  let values: { host?: string[]; kubernetes?: boolean; ca?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        host: { type: 'string', multiple: true },
        kubernetes: { type: 'boolean', default: false },
        ca: { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    throw new MeshbridgeError(`istiod-config: ${(e as Error).message}`, {
      retriable: false,
      code: 'CLI_ARGUMENT',
      context: { usage: 'meshbridge istiod-config [--config f] [--host H ...] [--kubernetes] [--ca ca.pem]' },
    });
  }
  const hosts = values.host?.length ? values.host : ['127.0.0.1'];
  let caPem: string | undefined;
  if (values.ca) {
    try {
      caPem = fs.readFileSync(values.ca, 'utf8');
    } catch (e) {
      throw new MeshbridgeError(`istiod-config: cannot read --ca ${values.ca}: ${(e as Error).message}`, {
        retriable: false,
        code: 'CLI_ARGUMENT',
        context: { fix: 'pass the PEM file of the CA that signed gateway.tls.certFile' },
      });
    }
  } else if (config.gateway.tls) {
    throw new MeshbridgeError('istiod-config: gateway.tls is set, so istiod needs the CA: pass --ca <ca.pem>', {
      retriable: false,
      code: 'CLI_ARGUMENT',
      context: { key: 'gateway.tls' },
    });
  }
  const { grpcPort, shards } = config.gateway;
  process.stdout.write(
    `# istiod mesh config for meshbridge: gateway.grpcPort ${grpcPort}, gateway.shards ${shards} (one source per shard` +
      ` and gateway address; docs/gateway.md "Shards").\n# Recommended on istiod: PILOT_ENABLE_EDS_DEBOUNCE=false, GOGC=200;` +
      ` from ~50,000 services: PILOT_ENABLE_EDS_DEBOUNCE=true, PILOT_DEBOUNCE_AFTER=100ms, PILOT_DEBOUNCE_MAX=500ms` +
      ` (docs/operations.md, "istiod settings for a registry-fed mesh").\n${istiodSourcesYaml({ hosts, grpcPort, shards, kubernetes: values.kubernetes ?? false, caPem })}`,
  );
  return 0;
}
