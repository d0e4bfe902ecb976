import { loadConfig } from '../services/shared/config.ts';
import { runGateway } from '../services/xds-gateway/main.ts';

/**
 * The `gateway` role's entry: configuration, then the gateway. `npm run build` bundles this file and everything it
 * loads (dependencies included) into one file at dist/bin/gateway-role.js (scripts/bundle-gateway.ts), so a gateway
 * starts by reading one file instead of resolving, reading and evaluating ~450 modules.
 */
export function runGatewayRole(configFile: string | undefined): Promise<void> {
  return runGateway(loadConfig(configFile));
}
