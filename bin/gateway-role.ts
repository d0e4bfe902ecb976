import YAML from 'yaml';
import { loadConfig, parseConfig } from '../services/shared/config.ts';
import { runGateway } from '../services/xds-gateway/main.ts';

/**
 * The `gateway` role's entry: configuration, then the gateway. `npm run build` bundles this file and everything it
 * loads (dependencies included) into one CommonJS file, dist/bin/gateway-role.bundle.cjs (scripts/bundle-gateway.ts),
 * which dist/bin/gateway-role.js loads with a V8 code cache (bin/gateway-role-loader.ts), so a gateway starts by
 * reading one file, mostly precompiled, instead of resolving, reading and evaluating ~450 modules.
 *
 * `codeCache` says how the bundle was compiled (logged at start-up); undefined when run from the sources.
 */
export function runGatewayRole(configFile: string | undefined, codeCache?: string): Promise<void> {
  return runGateway(loadConfig(configFile), codeCache);
}

/** A gateway-only configuration as a user writes one: Kafka and the source are placeholders the gateway never opens. */
const WARM_UP_CONFIG = `
kafka: { brokers: ['kafka:9092'] }
redis: { url: 'redis://redis:6379' }
sources: [{ id: zk, kind: zookeeper-dubbo, connect: 'zookeeper:2181' }]
gateway: { grpcPort: 18010, shards: 4 }
`;

/**
 * The pure part of a start, run when the code cache is written (bin/gateway-role-loader.ts): parsing and validating a
 * configuration compiles most of what a start runs before it opens a socket, so those functions come precompiled.
 */
export function warmUp(): void {
  parseConfig(YAML.parse(WARM_UP_CONFIG), 'the code cache warm-up');
}
