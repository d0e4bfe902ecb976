import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, projectRoot, versions } from './paths.ts';

export type Server =
  | 'redis'
  | 'zookeeper'
  | 'kafka'
  | 'istiod'
  | 'consul'
  | 'kubernetes'
  | 'istiod-unpatched'
  | 'helm'
  | 'eureka'
  | 'nacos'
  | 'docker'
  | 'docker-base'
  | 'compose';

const present: Record<Server, () => boolean> = {
  redis: () => onPath('redis-server'),
  zookeeper: () =>
    onPath('java') &&
    (versions.zookeeper === 'debian'
      ? fs.existsSync('/usr/share/java/zookeeper.jar')
      : fs.existsSync(path.join(zookeeperHome(), '.complete'))),
  kafka: () => fs.existsSync(path.join(kafkaHome(), '.complete')),
  istiod: () => fs.existsSync(istiodBinary()),
  consul: () => fs.existsSync(consulBinary()),
  kubernetes: () =>
    onPath('etcd') && fs.existsSync(kubernetesBinary('kube-apiserver')) && fs.existsSync(kubernetesBinary('kubectl')),
  'istiod-unpatched': () => fs.existsSync(istiodUnpatchedBinary()) && fs.existsSync(istioCrdFile()),
  helm: () => fs.existsSync(helmBinary()),
  eureka: () => (['eureka-server', 'eureka-client'] as const).every((j) => fs.existsSync(eurekaJar(j))),
  nacos: () => fs.existsSync(path.join(nacosHome(), '.complete')),
  docker: () => onPath('dockerd') && onPath('docker') && onPath('debootstrap'),
  'docker-base': () => fs.existsSync(baseImageTarball()),
  compose: () => fs.existsSync(composeBinary()),
};

export function kafkaHome(): string {
  return path.join(cacheDir, 'kafka', versions.kafka);
}
/** Where a Maven Central ZooKeeper release's jars are (not used for Debian's package). */
export function zookeeperHome(): string {
  return path.join(cacheDir, 'zookeeper', versions.zookeeper);
}
export function istiodBinary(): string {
  return process.env.MESHBRIDGE_ISTIOD_BIN ?? path.join(cacheDir, 'istiod', versions.istio, 'pilot-discovery');
}

/** istiod as production runs it, with Kubernetes: the same istio build without scripts/patches/ (install.sh). */
export function istiodUnpatchedBinary(): string {
  return (
    process.env.MESHBRIDGE_ISTIOD_UNPATCHED_BIN ??
    path.join(cacheDir, 'istiod', `${versions.istio}-unpatched`, 'pilot-discovery')
  );
}
/** Istio's CRDs of that build (manifests/charts/base/files/crd-all.gen.yaml), kept next to it by install.sh. */
export function istioCrdFile(): string {
  return path.join(cacheDir, 'istiod', `${versions.istio}-unpatched`, 'crd-all.gen.yaml');
}
export function kubernetesBinary(name: 'kube-apiserver' | 'kubectl'): string {
  return path.join(cacheDir, 'kubernetes', versions.kubernetes, name);
}
export function helmBinary(): string {
  return path.join(cacheDir, 'helm', versions.helm, 'helm');
}

export function consulBinary(): string {
  return process.env.MESHBRIDGE_CONSUL_BIN ?? path.join(cacheDir, 'consul', versions.consul, 'consul');
}

/** A jar scripts/install.sh builds from harness/eureka-server or harness/eureka-client. */
export function eurekaJar(app: 'eureka-server' | 'eureka-client'): string {
  return path.join(cacheDir, 'eureka', process.env.MESHBRIDGE_EUREKA_VERSION ?? '2025.1.4', `${app}.jar`);
}

/** The compose test's versions (harness/docker.ts): the Compose CLI and the one base image every image builds on. */
export const dockerVersions = {
  compose: process.env.MESHBRIDGE_COMPOSE_VERSION ?? 'v2.28.1',
  baseImage: process.env.MESHBRIDGE_BASE_IMAGE ?? 'debian:12.15-slim',
};
export function composeBinary(): string {
  return path.join(cacheDir, 'compose', dockerVersions.compose, 'docker-compose');
}
/** The debootstrap tarball scripts/install.sh makes the base image from (no image registry is reachable). */
export function baseImageTarball(): string {
  return path.join(cacheDir, 'docker', 'base', `${dockerVersions.baseImage.replace(/[:/]/g, '_')}.tar`);
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
  const res = spawnSync(path.join(projectRoot, 'scripts', 'install.sh'), missing, {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.status !== 0) {
    throw new Error(
      `installing ${missing.join(', ')} failed (exit ${res.status}); run scripts/install.sh ${missing.join(' ')} to see why`,
    );
  }
}
