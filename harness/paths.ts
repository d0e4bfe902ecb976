import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Installed servers are cached outside the work tree, keyed by version (README, "Servers without Docker"). */
export const cacheDir = process.env.MESHBRIDGE_CACHE ?? path.join(os.homedir(), '.cache', 'meshbridge');

export const versions = {
  kafka: process.env.MESHBRIDGE_KAFKA_VERSION ?? '3.9.1',
  istio: process.env.MESHBRIDGE_ISTIO_VERSION ?? '1.30-b01690e6',
  kubernetes: process.env.MESHBRIDGE_KUBERNETES_VERSION ?? '1.37.2',
  helm: process.env.MESHBRIDGE_HELM_VERSION ?? 'v3.22.0',
  /** 'debian' is Debian's package (3.8); anything else a release from Maven Central (docs/versions.md). */
  zookeeper: process.env.MESHBRIDGE_ZOOKEEPER_VERSION ?? 'debian',
  consul: process.env.MESHBRIDGE_CONSUL_VERSION ?? '1.22.0',
  dubbo: process.env.MESHBRIDGE_DUBBO_VERSION ?? '3.2.14',
};

/** A fresh directory for one run's data and per-server logs. Kept after the run for debugging. */
export function makeRunDir(label: string): string {
  const base = process.env.MESHBRIDGE_RUN_DIR ?? path.join(projectRoot, '.meshbridge', 'runs');
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `${label}-${new Date().toISOString().replace(/[:.]/g, '')}-`));
}
