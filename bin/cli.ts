import { parseArgs } from 'node:util';
import type { Config } from '../services/shared/config.ts';
import type { MeshbridgeError } from '../services/shared/errors.ts';

// Configuration code (zod, yaml) is loaded by the command that needs it: the gateway role brings its own copy, in
// its single-file bundle (bin/gateway-role.ts).
const loadConfig = async (file: string | undefined): Promise<Config> =>
  (await import('../services/shared/config.ts')).loadConfig(file);

/** A MeshbridgeError from this module graph or from the gateway's bundle (its own copy of the class). */
const isMeshbridgeError = (e: unknown): e is MeshbridgeError =>
  e instanceof Error && typeof (e as Partial<MeshbridgeError>).retriable === 'boolean';

const USAGE = `meshbridge — registry services into an Istio mesh over MCP-over-xDS

usage: meshbridge <command> [--config file.yaml]

roles (long-running; configuration from --config / MESHBRIDGE_CONFIG and MESHBRIDGE_* environment):
  collector     watch the configured registries, publish change events to Kafka
  projector     fold events into versioned ServiceEntry snapshots in Redis
                --rebuild: recompute the snapshot from the topic alone into staging keys, then switch over atomically
  gateway       serve the snapshot to istiod (configSources: xds://host:port)

tools:
  status [--json] [--gateway http://host:port ...]   check Kafka (brokers, topics, dead letters), Redis (snapshot complete,
                version), each registry, the roles' /readyz and the gateways' istiods and lag (docs/operations.md;
                exit 0 healthy, 1 degraded, 3 cannot check: Kafka or Redis unreachable)
  istiod-config [--host H ...] [--kubernetes] [--ca ca.pem]   print istiod's configSources for this config's gateways:
                one xds:// entry per shard (gateway.shards) of each host (default 127.0.0.1); --kubernetes adds k8s://
  healthcheck   exit 0 when this container's role answers /readyz (--url URL: that URL instead); the image's HEALTHCHECK
  demo-provider the demo workload of docker-compose.yml: registers itself in ZooKeeper (Dubbo) and Consul
  up            install and start a complete local stack (Kafka, Redis, ZooKeeper, istiod, the three roles),
                register a demo Dubbo provider, and show what istiod holds. Ctrl-C stops everything.

audit (read the topic from the beginning; human-readable, --json for machines; docs/audit.md):
  replay [--until <point>] [-o file] [--no-redis]   the snapshot as of a point, as kubectl-style YAML, with its version
  history <host|ns/host|registry service> [--until <point>]   every event that touched one service, and its effect
  diff <point> <point>   what changed in the mesh between two points, instance by instance
  verify        live snapshot in Redis == replay of the topic to its stored offsets? (exit 0 yes, 1 no, 3 cannot verify)
  verify --registry   live snapshot == every configured registry read afresh? per mesh host: missing, extra, endpoints
                that differ; re-checked after a settle, only persisting differences count (exit 0 yes, 1 no, 3 cannot verify)
  <point>: 2025-06-01T12:00:00Z | 0:120,1:98,2:131 (exclusive offset per partition) | v42 (live version) | now
`;

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false,
  });
  if (!command || command === 'help' || values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const configFile = typeof values.config === 'string' ? values.config : undefined;
  switch (command) {
    case 'collector':
      return (await import('../services/collector/main.ts')).runCollector(await loadConfig(configFile));
    case 'projector':
      return values.rebuild
        ? (await import('../services/projector/rebuild.ts')).runRebuild(await loadConfig(configFile)) // recompute from the topic, switch atomically
        : (await import('../services/projector/main.ts')).runProjector(await loadConfig(configFile));
    case 'gateway':
      return (await import('./gateway-role.ts')).runGatewayRole(configFile);
    case 'status': // exits at once: a kafkajs client still retrying must not keep the process alive
      return process.exit(
        await (await import('../services/status/status.ts')).runStatus(rest, await loadConfig(configFile)),
      );
    case 'istiod-config':
      process.exitCode = (await import('../services/xds-gateway/istiod-config.ts')).runIstiodConfig(
        rest,
        await loadConfig(configFile),
      );
      return;
    case 'healthcheck':
      process.exitCode = await (await import('../services/shared/healthcheck.ts')).healthcheck(rest);
      return;
    case 'demo-provider':
      return (await import('../harness/demo-provider.ts')).runDemoProvider(rest);
    case 'up':
      return (await import('../harness/up.ts')).up();
    case 'replay':
    case 'history':
    case 'diff':
    case 'verify':
      // verify --registry reads each registry with the collector's own adapters: given to audit, not imported by it.
      process.exitCode = await (await import('../services/audit/cli.ts')).runAudit(
        command,
        rest,
        await loadConfig(configFile),
        { readRegistry: (await import('../services/collector/registry-read.ts')).readRegistry },
      );
      return;
    default:
      process.stderr.write(`meshbridge: unknown command "${command}"\n\n${USAGE}`);
      process.exit(2);
  }
}

main().catch((e: unknown) => {
  if (isMeshbridgeError(e)) {
    process.stderr.write(`meshbridge: ${e.message}\n`);
    process.exit(e.code === 'CONFIG_INVALID' ? 78 : 1); // 78 = EX_CONFIG
  }
  process.stderr.write(`meshbridge: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
