import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, projectRoot, versions } from './paths.ts';

export type Server = 'redis' | 'zookeeper' | 'kafka' | 'istiod' | 'consul' | 'nacos';

const present: Record<Server, () => boolean> = {
  redis: () => onPath('redis-server'),
  zookeeper: () => fs.existsSync('/usr/share/java/zookeeper.jar') && onPath('java'),
  kafka: () => fs.existsSync(path.join(kafkaHome(), '.complete')),
  istiod: () => fs.existsSync(istiodBinary()),
  consul: () => fs.existsSync(consulBinary()),
  nacos: () => fs.existsSync(path.join(nacosHome(), '.complete')),
};

export function kafkaHome(): string { return path.join(cacheDir, 'kafka', versions.kafka); }
export function istiodBinary(): string {
  return process.env.MESHBRIDGE_ISTIOD_BIN ?? path.join(cacheDir, 'istiod', versions.istio, 'pilot-discovery');
}

export function consulBinary(): string {
  return process.env.MESHBRIDGE_CONSUL_BIN ?? path.join(cacheDir, 'consul', process.env.MESHBRIDGE_CONSUL_VERSION ?? '1.22.0', 'consul');
}

/** The standalone Nacos server built by scripts/install.sh (target/nacos-server.jar, conf/). */
export function nacosHome(): string {
  return path.join(cacheDir, 'nacos', process.env.MESHBRIDGE_NACOS_COMMIT ?? '486e198486');
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Installs whatever of `servers` is missing with scripts/install.sh (the same script .ci/run uses), streaming its
 * progress. Throws — never skips — when an install fails, so a test that needs a server fails loudly.
 */
export function ensureInstalled(servers: Server[]): void {
  const missing = servers.filter((s) => !present[s]());
  if (missing.length === 0) return;
  process.stderr.write(`meshbridge: installing ${missing.join(', ')} (cached under ${cacheDir})\n`);
  const res = spawnSync(path.join(projectRoot, 'scripts', 'install.sh'), missing, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (res.status !== 0) {
    throw new Error(`installing ${missing.join(', ')} failed (exit ${res.status}); run scripts/install.sh ${missing.join(' ')} to see why`);
  }
}
