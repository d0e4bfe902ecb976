import type { Config } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { onShutdown } from '../shared/lifecycle.ts';
import { openGateway } from './gateway.ts';

/**
 * The `gateway` role: serve the snapshot to istiods until SIGTERM, then drain them to other replicas and exit. Starts
 * without Redis (ops server and ADS listener first; Redis retried with the dependency backoff, docs/operations.md).
 */
export async function runGateway(cfg: Config): Promise<void> {
  const log = createLogger('gateway');
  const gw = await openGateway(cfg, log);
  onShutdown(log, () => gw.stop());
  await gw.loaded.catch((e: unknown) => log.debug({ err: (e as Error).message }, 'stopped before the first snapshot'));
}
