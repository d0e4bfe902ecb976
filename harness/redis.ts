import fs from 'node:fs';
import { Redis, type RedisOptions as ClientOptions } from 'ioredis';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';
import type { ClientCert, TestCerts } from './certs.ts';

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:port, or rediss:// when started with `tls` (never with a password in it). */
  url: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

export interface RedisAclUser {
  username: string;
  password: string /** ACL rules; default: every key, channel and command. */;
  rules?: string[];
}

type RedisOptions = {
  port?: number;
  name?: string;
  appendonly?: boolean;
  /** The default user's password (`requirepass`). */
  requirepass?: string;
  /** ACL users (`user <name> on ><password> <rules>`). */
  users?: RedisAclUser[];
  /**
   * TLS only (the plain port is closed), server certificate from `certs`. With `clientCert` (signed by the same CA,
   * see makeClientCert) clients must present a certificate (`tls-auth-clients yes`); the readiness probe uses it.
   */
  tls?: { certs: TestCerts; clientCert?: ClientCert };
};

export function startRedis(runDir: string, opts: RedisOptions = {}): Promise<RedisServer> {
  if (opts.port !== undefined) return launchRedis(runDir, opts.port, opts);
  return startWithPortRetry('redis', async () => launchRedis(runDir, await freePort(), opts));
}

async function launchRedis(runDir: string, port: number, opts: RedisOptions): Promise<RedisServer> {
  const portArgs = opts.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        opts.tls.certs.serverCert,
        '--tls-key-file',
        opts.tls.certs.serverKey,
        '--tls-ca-cert-file',
        opts.tls.certs.caCert,
        '--tls-auth-clients',
        opts.tls.clientCert ? 'yes' : 'no',
      ]
    : ['--port', String(port)];
  const authArgs = [
    ...(opts.requirepass !== undefined ? ['--requirepass', opts.requirepass] : []),
    ...(opts.users ?? []).flatMap((u) => [
      '--user',
      u.username,
      'on',
      `>${u.password}`,
      ...(u.rules ?? ['~*', '&*', '+@all']),
    ]),
  ];
  const proc = new ManagedProcess({
    name: opts.name ?? 'redis',
    command: 'redis-server',
    args: [
      ...portArgs,
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      opts.appendonly ? 'yes' : 'no',
      '--dir',
      runDir,
      ...authArgs,
    ],
    logDir: runDir,
  });
  const url = `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  // The readiness probe authenticates as the first ACL user, else with requirepass; over TLS it trusts the CA and
  // presents the client certificate when one is required.
  const probe: ClientOptions = {
    ...(opts.users?.[0]
      ? { username: opts.users[0].username, password: opts.users[0].password }
      : opts.requirepass !== undefined
        ? { password: opts.requirepass }
        : {}),
    ...(opts.tls
      ? {
          tls: {
            ca: [fs.readFileSync(opts.tls.certs.caCert)],
            ...(opts.tls.clientCert
              ? { cert: fs.readFileSync(opts.tls.clientCert.cert), key: fs.readFileSync(opts.tls.clientCert.key) }
              : {}),
          },
        }
      : {}),
  };
  await readyOrStop(proc, () =>
    waitFor(
      async () => {
        proc.assertRunning();
        const c = new Redis(url, { ...probe, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on('error', () => undefined); // not up yet: the probe's own rejection says so
        try {
          await c.connect();
          return (await c.ping()) === 'PONG';
        } finally {
          c.disconnect();
        }
      },
      { what: `redis on :${port}`, timeoutMs: 15_000 },
    ),
  );
  return { port, url, proc, stop: () => proc.stop() };
}
