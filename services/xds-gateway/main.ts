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
 * `codeCache`: how the role's bundle was compiled (bin/gateway-role-loader.ts), logged so a cache V8 refused is seen.
 */
export async function runGateway(cfg: Config, codeCache?: string): Promise<void> {
  const log = createLogger('gateway');
  if (codeCache === 'rejected')
    log.warn(
      { codeCache },
      'role bundle loaded without its code cache: V8 refused it (written by another Node binary or under other node ' +
        'flags than this process has); the gateway works, but starts slower. Rebuild the image, or run the role ' +
        "with the launcher's flags (deploy/docker/meshbridge.sh)",
    );
  else if (codeCache !== undefined) log.info({ codeCache }, 'role bundle loaded');
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
