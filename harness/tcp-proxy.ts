import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Backend port each accepted connection went to, in order. */
  readonly routed: number[];
  /**
   * A network partition: while on, nothing is forwarded either way and new connections hang unanswered (no refusal,
   * no reset — what a dropped route looks like). Healing resets the connections that lived through it (their peers
   * would have timed them out) and lets the waiting ones through.
   */
  partition(on: boolean): void;
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
  const pairs = new Set<[net.Socket, net.Socket]>();
  let held: net.Socket[] = [];
  let partitioned = false;
  const connect = (client: net.Socket) => {
    const tryNext = (list: number[]) => {
      const port = list[0];
      if (port === undefined) {
        client.destroy();
        return;
      }
      const upstream = net.connect({ port, host });
      let connected = false;
      upstream.once('error', () => {
        if (!connected) tryNext(list.slice(1)); // refused: that replica is down, try the next one
      });
      upstream.once('connect', () => {
        connected = true;
        routed.push(port);
        sockets.add(upstream);
        upstream.on('close', () => {
          sockets.delete(upstream);
          client.destroy();
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.on('close', () => upstream.destroy());
        const pair: [net.Socket, net.Socket] = [client, upstream];
        pairs.add(pair);
        upstream.on('close', () => pairs.delete(pair));
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryNext(backends());
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    if (partitioned) held.push(client);
    else connect(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    routed,
    partition(on) {
      if (on === partitioned) return;
      partitioned = on;
      if (on) {
        for (const [client, upstream] of pairs) {
          client.unpipe(upstream);
          upstream.unpipe(client);
          client.pause();
          upstream.pause();
        }
        return;
      }
      for (const [client, upstream] of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      const waiting = held.filter((c) => !c.destroyed);
      held = [];
      for (const c of waiting) connect(c);
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
