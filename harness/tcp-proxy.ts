import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Backend port each accepted connection went to, in order. */
  readonly routed: number[];
  close(): Promise<void>;
}

/**
 * A tiny TCP front for a fleet of replicas on loopback, standing in for the Service/load balancer istiod's single
 * `xds://` address points at: each new connection goes to the first backend (in order) that accepts it; when a
 * backend's side closes, the client's side is closed too, so the client reconnects — and lands on a live replica.
 */
export async function startTcpProxy(backends: () => number[], host = '127.0.0.1'): Promise<TcpProxy> {
  const routed: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const tryNext = (list: number[]) => {
      const port = list[0];
      if (port === undefined) { client.destroy(); return; }
      const upstream = net.connect({ port, host });
      let connected = false;
      upstream.once('error', () => {
        if (!connected) tryNext(list.slice(1)); // refused: that replica is down, try the next one
      });
      upstream.once('connect', () => {
        connected = true;
        routed.push(port);
        sockets.add(upstream);
        upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryNext(backends());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    routed,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
