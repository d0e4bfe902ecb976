import http from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from './log.ts';

export type Probe = () => { ok: boolean; detail?: unknown };
export type DebugHandler = (url: URL) => unknown | Promise<unknown>;

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  log: Logger;
  /** Liveness: the process is not wedged. */
  health: Probe;
  /** Readiness: safe to receive work / traffic. */
  ready: Probe;
  debug?: Record<string, DebugHandler>;
}

/** /healthz, /readyz, /metrics and JSON debug views, shared by every role. */
export async function startOpsServer(opts: OpsServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/healthz' || url.pathname === '/readyz') {
        const r = (url.pathname === '/healthz' ? opts.health : opts.ready)();
        res.writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: r.ok, ...(r.detail === undefined ? {} : { detail: r.detail }) }));
        return;
      }
      if (url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': opts.registry.contentType });
        res.end(await opts.registry.metrics());
        return;
      }
      const handler = opts.debug?.[url.pathname];
      if (handler) {
        const body = await handler(url);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body, null, 2));
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`not found; try /healthz /readyz /metrics ${Object.keys(opts.debug ?? {}).join(' ')}\n`);
    } catch (e) {
      opts.log.error({ err: e, path: url.pathname }, 'ops endpoint failed');
      res.writeHead(500).end(String((e as Error).message));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  opts.log.info({ port }, 'ops server listening (/healthz /readyz /metrics)');
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
