import type { Config } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { onShutdown } from '../shared/lifecycle.ts';
import { startGateway } from './gateway.ts';

/** The `gateway` role: serve the snapshot to istiods until SIGTERM, then drain them to other replicas and exit. */
export async function runGateway(cfg: Config): Promise<void> {
  const log = createLogger('gateway');
  const gw = await startGateway(cfg, log);
  onShutdown(log, () => gw.stop());
}
