import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';
import { kubernetesBinary } from './install.ts';
import { versions } from './paths.ts';
import { clientExtensions, makeCa, openssl, serverExtensions, signCert } from './certs.ts';

/**
 * A real Kubernetes control plane without Docker or a kubelet (docs/kubernetes.md): Debian's etcd and a
 * kube-apiserver built from the Go module proxy (scripts/install.sh kubernetes), on free loopback ports, with its
 * own CA, serving certificate, an admin client certificate (group system:masters) and a kubeconfig. Pods are never
 * scheduled (no scheduler, no kubelet), but every API istiod and `kubectl apply` use works, admission included
 * (PodSecurity, ServiceAccount, NamespaceLifecycle ...).
 */
export interface KubeApiServer {
  url: string;
  kubeconfig: string;
  etcd: ManagedProcess;
  proc: ManagedProcess;
  /** kubectl against this server; rejects with its stderr on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }>;
  /** `kubectl apply --server-side` of YAML (many documents allowed); resolves with kubectl's stderr (warnings). */
  apply(
    yaml: string,
    opts?: { namespace?: string; fieldManager?: string },
  ): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** CA, apiserver serving cert (127.0.0.1, localhost, kubernetes.default.svc), admin client cert, SA signing key. */
function makeKubeCerts(dir: string): void {
  makeCa(dir, 'meshbridge test kubernetes CA');
  const san = [
    'IP:127.0.0.1',
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
  ];
  signCert(dir, 'server', '/CN=kube-apiserver', serverExtensions(san));
  signCert(dir, 'admin', '/O=system:masters/CN=meshbridge-admin', clientExtensions);
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfigYaml(url: string, dir: string): string {
  const p = (f: string) => JSON.stringify(path.join(dir, f));
  return [
    'apiVersion: v1',
    'kind: Config',
    'current-context: harness',
    'clusters:',
    `- name: harness`,
    `  cluster: { server: ${JSON.stringify(url)}, certificate-authority: ${p('ca.crt')} }`,
    'users:',
    `- name: admin`,
    `  user: { client-certificate: ${p('admin.crt')}, client-key: ${p('admin.key')} }`,
    'contexts:',
    '- name: harness',
    '  context: { cluster: harness, user: admin }',
    '',
  ].join('\n');
}

export function startKubeApiServer(runDir: string): Promise<KubeApiServer> {
  const dir = path.join(runDir, 'kubernetes');
  makeKubeCerts(path.join(dir, 'pki'));
  return startWithPortRetry('kube-apiserver', () => launch(runDir, dir));
}

async function launch(runDir: string, dir: string): Promise<KubeApiServer> {
  const [etcdClient, etcdPeer, securePort] = await Promise.all([freePort(), freePort(), freePort()]);
  const pki = path.join(dir, 'pki');
  const dataDir = fs.mkdtempSync(path.join(dir, 'etcd-'));
  const etcd = new ManagedProcess({
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name',
      'harness',
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `harness=http://127.0.0.1:${etcdPeer}`,
    ],
    logDir: runDir,
  });
  await readyOrStop(etcd, () =>
    waitFor(
      async () => {
        etcd.assertRunning();
        const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      { what: `etcd on :${etcdClient} (log ${etcd.logFile})`, timeoutMs: 60_000 },
    ),
  );

  const f = (name: string) => path.join(pki, name);
  const proc = new ManagedProcess({
    name: 'kube-apiserver',
    command: kubernetesBinary('kube-apiserver'),
    args: [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      `--secure-port=${securePort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--tls-cert-file=${f('server.crt')}`,
      `--tls-private-key-file=${f('server.key')}`,
      `--client-ca-file=${f('ca.crt')}`,
      `--service-account-key-file=${f('sa.pub')}`,
      `--service-account-signing-key-file=${f('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      `--cert-dir=${pki}`,
      // No kubelet or controller-manager: nothing else would keep the `kubernetes` Service's endpoints, and the
      // default reconciler would write 127.0.0.1 into them (the API server refuses loopback endpoints).
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ],
    logDir: runDir,
  });
  const url = `https://127.0.0.1:${securePort}`;
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, kubeconfigYaml(url, pki));
  const kubectl = (args: string[], input?: string) =>
    new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = execFile(
        kubernetesBinary('kubectl'),
        ['--kubeconfig', kubeconfig, ...args],
        { maxBuffer: 64 << 20 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`)) : resolve({ stdout, stderr }),
      );
      if (input !== undefined) child.stdin!.end(input);
    });
  try {
    await readyOrStop(proc, () =>
      waitFor(
        async () => {
          proc.assertRunning();
          const { stdout } = await kubectl(['get', '--raw', '/readyz']);
          return stdout.trim() === 'ok';
        },
        { what: `kube-apiserver ${url}/readyz (log ${proc.logFile})`, timeoutMs: 180_000, intervalMs: 500 },
      ),
    );
    // The version clients see (istiod, helm): a build without the version linked in reports v0.0.0.
    const { stdout } = await kubectl(['version', '-o', 'json']);
    const server = (JSON.parse(stdout) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion;
    if (server !== `v${versions.kubernetes}`) {
      throw new Error(
        `kube-apiserver reports version ${server}, expected v${versions.kubernetes}: a build without its version; ` +
          `delete ${path.dirname(kubernetesBinary('kube-apiserver'))} and run scripts/install.sh kubernetes`,
      );
    }
  } catch (e) {
    await proc.stop();
    await etcd.stop();
    throw e;
  }
  return {
    url,
    kubeconfig,
    etcd,
    proc,
    kubectl,
    apply: (yaml, opts = {}) =>
      kubectl(
        [
          'apply',
          '--server-side',
          `--field-manager=${opts.fieldManager ?? 'meshbridge-test'}`,
          ...(opts.namespace ? ['-n', opts.namespace] : []),
          '-f',
          '-',
        ],
        yaml,
      ),
    async stop() {
      await proc.stop();
      await etcd.stop();
    },
  };
}

/**
 * Applies Istio's CRDs (the ones of the istiod build in use) and waits until the API serves them, so that istiod
 * and `kubectl apply` of Istio resources find them.
 */
export async function applyIstioCrds(api: KubeApiServer, crdFile: string): Promise<void> {
  await api.apply(fs.readFileSync(crdFile, 'utf8'));
  await api.kubectl(['wait', '--for=condition=Established', '--timeout=120s', 'crd', '--all']);
}
