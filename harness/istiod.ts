import fs from 'node:fs';
import path from 'node:path';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, isListening, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';
import { istiodBinary, istiodUnpatchedBinary } from './install.ts';

export interface IstiodServer {
  /** Proxy-facing xDS (plaintext), where a sidecar would connect. */
  grpcPort: number;
  httpPort: number;
  monitoringPort: number;
  proc: ManagedProcess;
  /** GET a debug endpoint on the monitoring port, e.g. `/debug/configz`. */
  debug(pathname: string): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * istiod (pilot-discovery) without Kubernetes, reading config only from `configSource` (xds://host:port), as in
 * docs/protocol.md "Running istiod without Kubernetes" — or, with `kubeconfig`, as production runs it (k8s:// too;
 * docs/kubernetes.md). Start the config source first: istiod exits if it is down at start.
 */
type IstiodOptions = {
  readyTimeoutMs?: number;
  extraMesh?: string;
  /** Extra environment for istiod (e.g. PILOT_ENABLE_EDS_DEBOUNCE=true in bench:e2e, to compare with its default). */
  env?: NodeJS.ProcessEnv;
  /**
   * istiod as production runs it (docs/kubernetes.md): the unpatched build, reading this API server (`k8s://`, for
   * VirtualServices, DestinationRules ...) as well as `configSource`; the API server needs Istio's CRDs and the
   * istio-system namespace.
   */
  kubeconfig?: string;
};

/**
 * The istiod settings docs/operations.md recommends for a registry-fed mesh, as docker-compose.yml and
 * deploy/helm/istiod-values.yaml set them: endpoint changes skip istiod's 3 s EDS debounce, and its garbage collector
 * runs half as often (GOGC=200), paid for by the memory the gateway's istiod buffer padding saves.
 */
export const ISTIOD_RECOMMENDED_ENV = { PILOT_ENABLE_EDS_DEBOUNCE: 'false', GOGC: '200' } as const;

export function startIstiod(
  runDir: string,
  configSource: string | string[],
  opts: IstiodOptions = {},
): Promise<IstiodServer> {
  return startWithPortRetry('istiod', () => launchIstiod(runDir, configSource, opts));
}

async function launchIstiod(
  runDir: string,
  configSource: string | string[],
  opts: IstiodOptions,
): Promise<IstiodServer> {
  const [grpcPort, httpPort, monitoringPort, ctrlzPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const dir = path.join(runDir, 'istiod');
  fs.mkdirSync(dir, { recursive: true });
  const mesh = path.join(dir, 'mesh.yaml');
  const sources = [...(opts.kubeconfig ? ['k8s://'] : []), ...[configSource].flat()];
  fs.writeFileSync(mesh, `configSources:\n${sources.map((a) => `- address: ${a}\n`).join('')}${opts.extraMesh ?? ''}`);
  // Without Kubernetes: no service registry at all. With it: the Kubernetes registry (istiod's default) too.
  const kubeArgs = opts.kubeconfig ? [`--kubeconfig=${opts.kubeconfig}`] : ['--registries='];
  const proc = new ManagedProcess({
    name: 'istiod',
    command: opts.kubeconfig ? istiodUnpatchedBinary() : istiodBinary(),
    args: [
      'discovery',
      ...kubeArgs,
      `--meshConfig=${mesh}`,
      `--grpcAddr=127.0.0.1:${grpcPort}`,
      `--httpAddr=127.0.0.1:${httpPort}`,
      `--monitoringAddr=127.0.0.1:${monitoringPort}`,
      '--secureGRPCAddr=',
      '--httpsAddr=',
      `--ctrlz_port=${ctrlzPort}`,
      '--ctrlz_address=127.0.0.1',
    ],
    cwd: dir,
    env: {
      POD_NAMESPACE: 'istio-system',
      POD_NAME: 'istiod-local',
      ENABLE_CA_SERVER: 'false',
      PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING: 'false',
      ...ISTIOD_RECOMMENDED_ENV,
      ...opts.env,
    },
    logDir: runDir,
  });
  // Readiness: istiod opens its xDS port only once every config type has had an answer and its caches synced
  // ("All caches have been synced up ... marking server ready", then "starting gRPC discovery service"). Its /ready
  // endpoint cannot be used on the 1.30 line without Kubernetes: the injector and validation readiness flags are only
  // ever set when a kube client exists, so it answers 503 forever.
  await readyOrStop(proc, () =>
    waitFor(
      async () => {
        proc.assertRunning();
        return isListening(grpcPort);
      },
      {
        what: `istiod xDS port :${grpcPort} (config sources ${sources.join(', ')}; log ${proc.logFile})`,
        timeoutMs: opts.readyTimeoutMs ?? 60_000,
        intervalMs: 100,
      },
    ),
  );
  return {
    grpcPort,
    httpPort,
    monitoringPort,
    proc,
    async debug(pathname: string) {
      const res = await fetch(`http://127.0.0.1:${monitoringPort}${pathname}`);
      if (!res.ok) throw new Error(`istiod ${pathname}: HTTP ${res.status}`);
      return res.json();
    },
    stop: () => proc.stop(),
  };
}
