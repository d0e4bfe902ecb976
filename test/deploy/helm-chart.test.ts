import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { makeRunDir, projectRoot, versions } from '../../harness/paths.ts';
import { ensureInstalled, helmBinary } from '../../harness/install.ts';
import { startKubeApiServer, type KubeApiServer } from '../../harness/kube-apiserver.ts';
import { DEFAULT_GATEWAY_SHARDS, loadConfig } from '../../services/shared/config.ts';

const CHART = path.join(projectRoot, 'deploy', 'helm', 'meshbridge');
const FIXTURES = path.join(projectRoot, 'test', 'fixtures', 'helm');
const NS = 'meshbridge';
/** Ports of Istio's sidecar (pilot-agent, envoy) and istiod: the gateway's xDS port must be none of them. */
const ISTIO_PORTS = [15000, 15001, 15004, 15006, 15008, 15009, 15010, 15012, 15014, 15017, 15020, 15021, 15053, 15090];

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: any;
  data?: any;
};

function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(helmBinary(), args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`helm ${args.join(' ')}: ${stderr || stdout || err.message}`))
        : resolve({ stdout, stderr }),
    );
  });
}

/** Rendered for the harness API server's version (helm's own default is older than the chart's kubeVersion). */
const KUBE = ['--kube-version', versions.kubernetes];
const render = async (...extra: string[]) =>
  (
    await helm([
      'template',
      'meshbridge',
      CHART,
      '-n',
      NS,
      '-f',
      path.join(FIXTURES, 'ci-values.yaml'),
      ...KUBE,
      ...extra,
    ])
  ).stdout;
const docs = (yaml: string): Obj[] =>
  YAML.parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj)
    .filter((o) => o?.kind);
/** Every pod template of the workloads (Deployments, Job, CronJob), by workload name. */
function podTemplates(objs: Obj[]): [string, any][] {
  return objs.flatMap((o): [string, any][] => {
    if (o.kind === 'Deployment' || o.kind === 'Job') return [[`${o.kind}/${o.metadata.name}`, o.spec.template]];
    if (o.kind === 'CronJob') return [[`${o.kind}/${o.metadata.name}`, o.spec.jobTemplate.spec.template]];
    return [];
  });
}

/**
 * deploy/helm/meshbridge, linted and rendered by the real Helm and applied (server-side) to a real API server in a
 * namespace that enforces the `restricted` Pod Security Standard. The ServiceMonitor and PrometheusRule are optional
 * values (the Prometheus Operator's CRDs may be absent); this test turns them on and applies minimal CRDs for them
 * from test/fixtures/helm/monitoring-crds.yaml.
 */
describe('the Helm chart: lint, render, apply to a restricted namespace', () => {
  let runDir: string;
  let api: KubeApiServer;
  let rendered: string;
  let objs: Obj[];

  before(async () => {
    ensureInstalled(['kubernetes', 'helm']);
    runDir = makeRunDir('helm-chart');
    api = await startKubeApiServer(runDir);
    rendered = await render();
    objs = docs(rendered);
  });
  after(async () => {
    await api?.stop();
  });

  it('passes helm lint --strict (default values and the CI values)', async () => {
    const plain = await helm(['lint', '--strict', CHART, ...KUBE]);
    assert.match(plain.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const ci = await helm(['lint', '--strict', CHART, ...KUBE, '-f', path.join(FIXTURES, 'ci-values.yaml')]);
    assert.match(ci.stdout, /0 chart\(s\) failed/);
  });

  it('renders a ConfigMap meshbridge itself accepts, and pods that follow the rules of the chart', () => {
    const kinds = objs.map((o) => o.kind).sort();
    for (const k of [
      'ConfigMap',
      'CronJob',
      'Deployment',
      'Job',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Secret',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]) {
      assert.ok(kinds.includes(k), `renders a ${k}`);
    }
    // The rendered meshbridge.yaml loads with meshbridge's own config loader in every workload, with exactly the
    // secret files that workload mounts (MESHBRIDGE_*_FILE): a role lacking a secret its config needs would not start.
    const cm = objs.find((o) => o.kind === 'ConfigMap')!;
    const cfgFile = path.join(runDir, 'rendered-meshbridge.yaml');
    fs.writeFileSync(cfgFile, cm.data['meshbridge.yaml']);
    for (const [name, t] of podTemplates(objs)) {
      const env: NodeJS.ProcessEnv = {};
      for (const e of t.spec.containers[0].env as { name: string; value?: string }[]) {
        if (!e.name.endsWith('_FILE')) continue;
        env[e.name] = path.join(runDir, path.basename(e.value!));
        fs.writeFileSync(env[e.name]!, `${path.basename(e.value!)}\n`);
      }
      const cfg = loadConfig(cfgFile, env);
      assert.equal(cfg.redis.password, 'redisPassword', `${name}: Redis password from its file`);
      assert.equal(cfg.kafka.sasl?.password, 'kafkaSaslPassword', `${name}: Kafka SASL password from its file`);
      assert.equal(cfg.gateway.grpcPort, 18010);
      assert.ok(!ISTIO_PORTS.includes(cfg.gateway.grpcPort), "the xDS port is not one of Istio's");
      assert.equal(cfg.gateway.grpcHost, '0.0.0.0');
      assert.deepEqual(cfg.gateway.tls, {
        certFile: '/etc/meshbridge/tls/gateway/tls.crt',
        keyFile: '/etc/meshbridge/tls/gateway/tls.key',
      });
      const consul = cfg.sources.find((src) => src.id === 'consul-dc1') as { token?: string };
      const needsConsul = /collector|verify/.test(name);
      assert.equal(
        consul.token,
        needsConsul ? 'consul-consul-dc1' : undefined,
        `${name}: the Consul token only where it is used`,
      );
    }

    // One port per shard (config.gateway.shards, the product's default), at most 100 per Service (an EndpointSlice
    // holds no more): shard i on 18010 + i, in meshbridge-gateway, meshbridge-gateway-1, ...
    const exposed = objs
      .filter((o) => o.kind === 'Service' && /^meshbridge-gateway(-\d+)?$/.test(o.metadata.name))
      .flatMap((svc) => {
        assert.ok(svc.spec.ports.length <= 100, `${svc.metadata.name}: at most 100 ports`);
        return svc.spec.ports.map((p: { port: number; targetPort: number }) => {
          assert.equal(p.targetPort, p.port);
          return p.port;
        });
      });
    assert.deepEqual(
      exposed,
      Array.from({ length: DEFAULT_GATEWAY_SHARDS }, (_, i) => 18010 + i),
    );

    for (const [name, t] of podTemplates(objs)) {
      const env = Object.fromEntries(
        t.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]),
      );
      assert.equal(t.metadata.annotations['sidecar.istio.io/inject'], 'false', `${name}: no sidecar`);
      // Deployments roll on a config change; a Job's pod template is immutable (and a Job reads the config at start).
      if (name.startsWith('Deployment/'))
        assert.match(t.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/, `${name}: config checksum`);
      else assert.equal(t.metadata.annotations['checksum/config'], undefined, `${name}: no checksum on a Job`);
      assert.equal(t.spec.automountServiceAccountToken, false, `${name}: no token`);
      assert.equal(
        env.MESHBRIDGE_REDIS_PASSWORD_FILE,
        '/etc/meshbridge/secrets/redisPassword',
        `${name}: Redis password file`,
      );
      assert.ok(!JSON.stringify(t).includes('not-a-real'), `${name}: no secret value in the pod template`);
    }
    for (const sa of objs.filter((o) => o.kind === 'ServiceAccount'))
      assert.equal((sa as any).automountServiceAccountToken, false);
  });

  it('every object is admitted in a namespace enforcing the restricted Pod Security Standard, without warnings', async () => {
    await api.apply(fs.readFileSync(path.join(FIXTURES, 'monitoring-crds.yaml'), 'utf8'));
    await api.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=120s',
      'crd/servicemonitors.monitoring.coreos.com',
      'crd/prometheusrules.monitoring.coreos.com',
    ]);
    const level = {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/warn-version': 'latest',
    };
    await api.apply(YAML.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: level } }));
    // What kube-controller-manager (absent here) would create in every namespace.
    await api.apply(
      YAML.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: NS } }),
    );

    // The namespace really enforces: a pod without the restricted settings is refused.
    await assert.rejects(
      api.kubectl(['run', 'unrestricted', '-n', NS, '--image=busybox', '--restart=Never']),
      /violates PodSecurity "restricted:latest"/,
    );

    const applied = await api.apply(rendered, { namespace: NS });
    assert.equal(
      applied.stderr.trim(),
      '',
      'no warnings from the API server (PodSecurity warn=restricted, deprecations)',
    );
    const lines = applied.stdout.trim().split('\n');
    assert.equal(lines.length, objs.length, `every rendered object applied:\n${applied.stdout}`);
    assert.ok(
      lines.every((l) => / serverside-applied$/.test(l)),
      applied.stdout,
    );

    // Workload templates produce pods the namespace admits (server-side dry run: admission runs, nothing is stored).
    for (const [name, t] of podTemplates(objs)) {
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `admission-${name.split('/')[1]}`, namespace: NS, ...t.metadata },
        spec: t.spec,
      };
      const r = await api.kubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify(pod));
      assert.equal(r.stderr.trim(), '', `${name}: pod admitted without warnings`);
    }
  });

  it('a values change changes the config checksum, so the roles roll', async () => {
    const annotation = async () =>
      (
        await api.kubectl([
          'get',
          'deploy',
          '-n',
          NS,
          'meshbridge-gateway',
          '-o',
          'jsonpath={.spec.template.metadata.annotations.checksum/config}',
        ])
      ).stdout;
    const before = await annotation();
    const changedYaml = await render('--set', 'config.gateway.debounceMs=100');
    const changed = docs(changedYaml);
    const deployments = (objs: Obj[]) => podTemplates(objs).filter(([n]) => n.startsWith('Deployment/'));
    const after = deployments(changed).map(([, t]) => t.metadata.annotations['checksum/config']);
    assert.equal(after.length, 3);
    assert.equal(new Set(after).size, 1, 'one checksum for every role');
    assert.notEqual(after[0], before);
    // Unchanged values render the same checksum (it is a function of the config only).
    assert.equal(deployments(docs(await render()))[0]![1].metadata.annotations['checksum/config'], before);
    // The whole changed release applies (Jobs included) and the Deployment's template now carries the new checksum.
    const reapplied = await api.apply(changedYaml, { namespace: NS });
    assert.equal(reapplied.stderr.trim(), '');
    assert.equal(await annotation(), after[0]);
  });

  it('per-role image tags: an upgrade can go projector first, then gateways, then collectors', async () => {
    const repo = 'registry.example.com/meshbridge';
    const imagesOf = async (...set: string[]) =>
      Object.fromEntries(
        podTemplates(docs(await render(...set.flatMap((s) => ['--set', s])))).map(([n, t]) => [
          n,
          t.spec.containers[0].image as string,
        ]),
      );
    // Step 1 of docs/kubernetes.md: the new release everywhere but gateways and collectors.
    assert.deepEqual(await imagesOf('image.tag=0.2.0', 'gateway.imageTag=0.1.0', 'collector.imageTag=0.1.0'), {
      'Deployment/meshbridge-collector': `${repo}:0.1.0`,
      'Deployment/meshbridge-gateway': `${repo}:0.1.0`,
      'Deployment/meshbridge-projector': `${repo}:0.2.0`,
      'Job/meshbridge-rebuild-1': `${repo}:0.2.0`,
      'CronJob/meshbridge-verify': `${repo}:0.2.0`,
    });
  });
});
