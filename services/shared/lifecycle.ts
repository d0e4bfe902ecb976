import type { Logger } from './log.ts';

/**
 * Graceful shutdown: on SIGINT/SIGTERM run the stop steps in order (stop intake first, then flush, then close
 * clients), with a deadline after which the process exits anyway.
 */
export function onShutdown(log: Logger, stop: () => Promise<void>, deadlineMs = 15_000): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}
