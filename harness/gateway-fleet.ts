import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { pino } from 'pino';
import { parseConfig, type Config } from '../services/shared/config.ts';
import { startGateway, type RunningGateway } from '../services/xds-gateway/gateway.ts';
import { ManagedProcess } from './process.ts';
import { freePort, isListening } from './ports.ts';
import { meshbridgeArgs } from './role-node-flags.ts';
import { waitFor } from './wait.ts';

/**
 * A gateway-only config: the gateway reads Redis and nothing else, so Kafka and the sources are placeholders that the
 * gateway never dials. One shard unless asked: these gateways serve protocol, failover and benchmark tests that
 * drive one config source (gateway-shards.test.ts asks for several; pipeline() runs the product's default).
 */
export function gatewayConfig(redisUrl: string, prefix: string, gateway: Partial<Config['gateway']> = {}): Config {
  return parseConfig(
    {
      kafka: { brokers: ['127.0.0.1:9'] },
      redis: { url: redisUrl, prefix },
      sources: [{ id: 'unused', kind: 'zookeeper-dubbo', connect: '127.0.0.1:9' }],
      gateway: {
        grpcHost: '127.0.0.1',
        grpcPort: 0,
        httpHost: '127.0.0.1',
        httpPort: 0,
        debounceMs: 10,
        shards: 1,
        ...gateway,
      },
    },
    'gateway test config',
  );
}

/** An in-process gateway (real Redis, real gRPC and HTTP listeners); logs at warn so test output stays readable. */
export function startGatewayInProcess(
  redisUrl: string,
  prefix: string,
  gateway: Partial<Config['gateway']> = {},
  hooks: Parameters<typeof startGateway>[2] = {},
): Promise<RunningGateway> {
  const log = pino({ level: process.env.MESHBRIDGE_LOG_LEVEL ?? 'warn', base: { role: 'gateway', prefix } });
  return startGateway(gatewayConfig(redisUrl, prefix, gateway), log, hooks);
}

export interface GatewayProcess {
  proc: ManagedProcess;
  grpcPort: number;
  httpPort: number;
  name: string;
}

/**
 * A gateway as a real child process of the `meshbridge` executable (what istiod would talk to in production); for
 * crash and failover tests. `grpcPort` may be given to restart a replica on the same port.
 */
export async function spawnGateway(
  runDir: string,
  redisUrl: string,
  prefix: string,
  opts: { name?: string; grpcPort?: number; gateway?: Partial<Config['gateway']> } = {},
): Promise<GatewayProcess> {
  const name = opts.name ?? `gateway-${crypto.randomBytes(3).toString('hex')}`;
  const grpcPort = opts.grpcPort ?? (await freePort());
  const httpPort = await freePort();
  const cfg = { ...gatewayConfig(redisUrl, prefix, { ...opts.gateway, grpcPort, httpPort }) };
  const file = path.join(runDir, `${name}.yaml`);
  fs.writeFileSync(file, YAML.stringify(cfg));
  const proc = new ManagedProcess({
    name,
    command: process.execPath,
    args: meshbridgeArgs('gateway', ['--config', file]),
    env: { MESHBRIDGE_LOG_LEVEL: 'debug' },
    logDir: runDir,
  });
  await waitFor(
    async () => {
      proc.assertRunning();
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      return res.ok && (await isListening(grpcPort));
    },
    { what: `gateway ${name} on :${grpcPort} (log ${proc.logFile})`, timeoutMs: 30_000, intervalMs: 100 },
  );
  return { proc, grpcPort, httpPort, name };
}
