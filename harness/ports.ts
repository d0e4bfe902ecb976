import fs from 'node:fs';
import net from 'node:net';

/**
 * Ports for the servers and roles the harness starts. Chosen below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range): a port inside it can be taken by any outgoing connection between the
 * moment it is picked and the moment the server binds it — or a client can even connect to itself on it. Below the
 * range only another listener can take it, and `startWithPortRetry` retries a start that lost that race.
 */
const LOW = 20_000;
const ephemeralStart = (() => {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
})();
const HIGH = Math.max(LOW + 1000, ephemeralStart - 1);
/** Handed out by this process: never twice, so two servers of one test cannot be given the same port. */
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A loopback port below the ephemeral range that nothing listens on now and this process has not handed out. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free loopback port in ${LOW}..${HIGH} after 200 tries`);
}

/** `count` consecutive free ports (a sharded gateway serves shard i on base + i); returns the first. */
export async function freeConsecutivePorts(count: number): Promise<number> {
  if (count <= 1) return freePort();
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if (ports.some((p) => handedOut.has(p))) continue;
    if ((await Promise.all(ports.map(canBind))).every(Boolean)) {
      for (const p of ports) handedOut.add(p);
      return base;
    }
  }
  throw new Error(`no ${count} consecutive free loopback ports in ${LOW}..${HIGH} after 200 tries`);
}

/**
 * Starts a server on fresh ports, retrying with new ones when the start fails because a port was taken meanwhile
 * (another suite's server bound it first). Any other failure is rethrown at once.
 */
export async function startWithPortRetry<T>(what: string, start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      const msg = String((e as Error).message ?? e);
      if (i >= attempts || !/address already in use|EADDRINUSE|BindException/i.test(msg)) throw e;
      process.stderr.write(
        `[harness] ${what}: a port was taken before the server bound it; retrying on new ports (${i}/${attempts})\n`,
      );
    }
  }
}

/** True once something accepts TCP connections on host:port. */
export function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
