import { Redis } from 'ioredis';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';

export interface RedisServer {
  port: number;
  url: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

type RedisOptions = { port?: number; name?: string; appendonly?: boolean };

export function startRedis(runDir: string, opts: RedisOptions = {}): Promise<RedisServer> {
  if (opts.port !== undefined) return launchRedis(runDir, opts.port, opts);
  return startWithPortRetry('redis', async () => launchRedis(runDir, await freePort(), opts));
}

async function launchRedis(runDir: string, port: number, opts: RedisOptions): Promise<RedisServer> {
  const proc = new ManagedProcess({
    name: opts.name ?? 'redis',
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no', '--dir', runDir],
    logDir: runDir,
  });
  const url = `redis://127.0.0.1:${port}`;
  await readyOrStop(proc, () => waitFor(async () => {
    proc.assertRunning();
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined); // not up yet: the probe's own rejection says so
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } finally {
      c.disconnect();
    }
  }, { what: `redis on :${port}`, timeoutMs: 15_000 }));
  return { port, url, proc, stop: () => proc.stop() };
}
