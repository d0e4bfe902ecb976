import type { Config } from '../../services/shared/config.ts';
import { createLogger } from '../../services/shared/log.ts';
import { onShutdown } from '../../services/shared/lifecycle.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { openSnapshotSource } from './snapshot-source.ts';

/** At most this long is the rest of the gateway (and its listeners) held back for the first load to be sent. */
const LOAD_REQUEST_WAIT_MS = 100;

/**
 * The `gateway` role: serve the snapshot to istiods until SIGTERM, then drain them to other replicas and exit. Starts
 * without Redis (ops server and ADS listener; Redis retried with the dependency backoff, docs/operations.md).
 */
export async function runGateway(cfg: Config): Promise<void> {
  const log = createLogger('gateway');
  // Redis first: it runs the snapshot load while the rest of the gateway (gRPC, metrics) is imported — a start →
  // ready that adds the two instead of paying them one after the other. gateway.ts is imported only after.
  const source = openSnapshotSource(cfg, log);
  // Connecting takes event-loop turns, and evaluating gateway.ts (gRPC, metrics) is ~100 ms of synchronous work: let
  // the load reach Redis first (bounded, for a Redis that is slow or missing), so Redis executes it meanwhile.
  await Promise.race([source.loadRequested, delay(LOAD_REQUEST_WAIT_MS)]);
  const { openGateway } = await import('./gateway.ts');
  const gw = await openGateway(cfg, log, {}, source);
  onShutdown(log, () => gw.stop());
  await gw.loaded.catch((e: unknown) => log.debug({ err: (e as Error).message }, 'stopped before the first snapshot'));
}
