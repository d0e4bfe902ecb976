import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeRunDir, projectRoot } from '../../harness/paths.ts';
import { ensureInstalled, kafkaHome, istiodBinary, consulBinary } from '../../harness/install.ts';
import { startDockerEngine, linkLocalBuildInputs, type DockerEngine, type RunResult } from '../../harness/docker.ts';
import { freePort } from '../../harness/ports.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries, type IstiodConfig } from '../support/istiod-view.ts';

/**
 * docker-compose.yml, for real: our own dockerd (Debian's docker.io), every image built from the repository's
 * Dockerfiles on the pinned Debian base image, `docker compose up`, and what a user would check — istiod's
 * /debug/configz on its published port.
 */
const PROJECT = 'meshbridge-e2e';
const SERVICES = [
  'collector',
  'consul',
  'demo',
  'gateway-1',
  'gateway-2',
  'istiod',
  'kafka',
  'projector',
  'redis',
  'zookeeper',
];
const DUBBO_HOST = 'org.apache.dubbo.demo.demoservice';
const CONSUL_HOST = 'demo-web';
const TOPIC = 'meshbridge.registry-events';

describe('docker compose: the whole stack on a real Docker engine, istiod holds what the registries hold', () => {
  let runDir: string;
  let engine: DockerEngine;
  let ports: Record<string, number>;
  let composeEnv: NodeJS.ProcessEnv;
  const timings: string[] = [];

  const compose = async (args: string[], timeoutMs = 600_000): Promise<RunResult> =>
    engine.docker(['compose', '-p', PROJECT, '-f', path.join(projectRoot, 'docker-compose.yml'), ...args], {
      env: composeEnv,
      timeoutMs,
    });
  const composeOk = async (args: string[], timeoutMs?: number): Promise<RunResult> => {
    const r = await compose(args, timeoutMs);
    assert.equal(
      r.code,
      0,
      `docker compose ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`,
    );
    return r;
  };
  const debug = async (p: string): Promise<unknown> => {
    const res = await fetch(`http://127.0.0.1:${ports.istiodMonitoring}${p}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`istiod ${p}: HTTP ${res.status}`);
    return res.json();
  };
  const find = async (host: string): Promise<IstiodConfig | undefined> =>
    (await serviceEntries(debug)).find((c) => c.spec.hosts?.includes(host));
  const ipOf = async (service: string): Promise<string> => {
    const id = (await composeOk(['ps', '-q', service])).stdout.trim();
    const r = await engine.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', id]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const health = async (): Promise<Record<string, string>> => {
    const out = (await composeOk(['ps', '--all', '--format', 'json'])).stdout.trim();
    // compose 2.28 prints one JSON object per line
    const rows = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { Service: string; State: string; Health: string });
    return Object.fromEntries(rows.map((r) => [r.Service, `${r.State}/${r.Health || 'none'}`]));
  };
  const allHealthy = async () => {
    const h = await health();
    return SERVICES.every((s) => h[s] === 'running/healthy') ? h : undefined;
  };
  /** Offsets of the event topic, read inside the Kafka container with Kafka's own tool: partition → end offset. */
  const topicEnds = async (): Promise<Record<string, number>> => {
    const r = await composeOk([
      'exec',
      '-T',
      'kafka',
      'sh',
      '-c',
      `java -Xmx256m -cp '/opt/kafka/libs/*' -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties org.apache.kafka.tools.GetOffsetShell --bootstrap-server localhost:9092 --topic ${TOPIC}`,
    ]);
    const ends: Record<string, number> = {};
    for (const line of r.stdout.trim().split('\n')) {
      const m = /^(.+):(\d+):(\d+)$/.exec(line.trim());
      if (m && m[1] === TOPIC) ends[m[2]!] = Number(m[3]);
    }
    return ends;
  };
  /** istiod holds both demo services with the demo container's address as their only endpoint (else throws what it holds). */
  const demoServed = async (ip: string) => {
    const [dubbo, consul] = await Promise.all([find(DUBBO_HOST), find(CONSUL_HOST)]);
    const eps = (se?: IstiodConfig) =>
      se ? (se.spec.endpoints ?? []).map((e: { address: string }) => e.address) : 'absent';
    const ok =
      dubbo &&
      consul &&
      dubbo.spec.endpoints?.length === 1 &&
      dubbo.spec.endpoints[0].address === ip &&
      consul.spec.endpoints?.length === 1 &&
      consul.spec.endpoints[0].address === ip;
    if (!ok)
      throw new Error(
        `want endpoint ${ip}; istiod has ${DUBBO_HOST}: ${JSON.stringify(eps(dubbo))}, ${CONSUL_HOST}: ${JSON.stringify(eps(consul))}`,
      );
    return { dubbo: dubbo!, consul: consul! };
  };
  const saveLogs = async (label: string) => {
    const logs = await compose(['logs', '--no-color', '--timestamps']);
    fs.writeFileSync(path.join(runDir, `compose-services-${label}.log`), logs.stdout + logs.stderr);
  };

  before(
    async () => {
      runDir = makeRunDir('e2e-compose');
      ensureInstalled(['istiod', 'consul', 'kafka']);
      // Build once per machine: the image builds take what scripts/install.sh already built (deploy/docker/local/).
      linkLocalBuildInputs([
        { server: 'istiod', dir: path.dirname(istiodBinary()) },
        { server: 'consul', dir: path.dirname(consulBinary()) },
        { server: 'kafka', dir: kafkaHome() },
      ]);
      let t = performance.now();
      engine = await startDockerEngine(runDir);
      timings.push(`dockerd + base image ${((performance.now() - t) / 1000).toFixed(1)} s`);
      const names = ['istiodXds', 'istiodMonitoring', 'consul', 'collector', 'projector', 'gateway1', 'gateway2'];
      // Published ports are bound by docker-proxy later, and again after every down/up: below the ephemeral range.
      const pickPorts = async () => {
        ports = {};
        for (const n of names) ports[n] = await freePort(); // below the ephemeral range, never twice per process
        composeEnv = {
          MESHBRIDGE_ISTIOD_XDS_PORT: String(ports.istiodXds),
          MESHBRIDGE_ISTIOD_MONITORING_PORT: String(ports.istiodMonitoring),
          MESHBRIDGE_CONSUL_PORT: String(ports.consul),
          MESHBRIDGE_COLLECTOR_METRICS_PORT: String(ports.collector),
          MESHBRIDGE_PROJECTOR_METRICS_PORT: String(ports.projector),
          MESHBRIDGE_GATEWAY1_METRICS_PORT: String(ports.gateway1),
          MESHBRIDGE_GATEWAY2_METRICS_PORT: String(ports.gateway2),
        };
      };
      await pickPorts();
      // Whatever an earlier, interrupted run left behind.
      await composeOk(['down', '-v', '--remove-orphans', '--timeout', '5']);
      t = performance.now();
      await composeOk(['build'], 45 * 60_000);
      timings.push(`docker compose build ${((performance.now() - t) / 1000).toFixed(1)} s`);
      // Five services share the meshbridge image and each build tags it anew: drop the untagged leftovers so the data
      // root does not grow from run to run (the build cache stays).
      await engine.docker(['image', 'prune', '-f']);
      t = performance.now();
      let up = await compose(['up', '--build', '-d', '--wait', '--wait-timeout', '300'], 10 * 60_000);
      if (up.code !== 0 && /address already in use/.test(up.stderr)) {
        // Another process bound one of the picked ports in between: pick again, once.
        await composeOk(['down', '-v', '--timeout', '5']);
        await pickPorts();
        up = await compose(['up', '--build', '-d', '--wait', '--wait-timeout', '300'], 10 * 60_000);
      }
      assert.equal(up.code, 0, `docker compose up failed (exit ${up.code}):\n${up.stderr.slice(-4000)}`);
      timings.push(`docker compose up --build -d --wait ${((performance.now() - t) / 1000).toFixed(1)} s`);
    },
    { timeout: 60 * 60_000 },
  );

  after(async () => {
    if (engine) {
      await saveLogs('end');
      await compose(['down', '-v', '--remove-orphans', '--timeout', '10']);
      await engine.stop();
    }
    console.log(`# compose: ${timings.join('; ')} (logs in ${runDir})`);
  });

  it('brings every service up healthy', async () => {
    const h = await waitFor(allHealthy, { what: 'every compose service healthy', timeoutMs: 60_000, intervalMs: 1000 });
    assert.deepEqual(Object.keys(h).sort(), SERVICES);
  });

  it('istiod (published port) holds the demo Dubbo provider from ZooKeeper and the Consul service, with the demo container as endpoint', async () => {
    const ip = await ipOf('demo');
    const { dubbo, consul } = await waitFor(() => demoServed(ip), {
      what: `both demo ServiceEntries in istiod with endpoint ${ip}`,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    assert.equal(dubbo.metadata.namespace, 'dubbo');
    assert.deepEqual(dubbo.spec.ports, [{ number: 20880, protocol: 'TCP', name: 'tcp-dubbo' }]);
    assert.equal(dubbo.spec.resolution, 'STATIC');
    assert.equal(dubbo.spec.endpoints[0].ports, undefined, 'on the service port: istiod infers it');
    assert.equal(dubbo.spec.endpoints[0].labels['meshbridge.io/source'], 'zk1');
    assert.equal(consul.metadata.namespace, 'consul');
    assert.deepEqual(consul.spec.ports, [{ number: 8080, protocol: 'HTTP', name: 'http' }]);
    assert.equal(consul.spec.endpoints[0].labels['meshbridge.io/source'], 'consul-dc1');
    assert.equal(consul.spec.endpoints[0].labels.version, 'v1');
    assert.equal(consul.spec.endpoints[0].ports, undefined, 'on the service port: istiod infers it');
  });

  it('a provider that leaves ZooKeeper (and Consul) leaves istiod, and comes back', async () => {
    await composeOk(['stop', 'demo']);
    await waitFor(
      async () => {
        const [dubbo, consul] = await Promise.all([find(DUBBO_HOST), find(CONSUL_HOST)]);
        // The last provider gone: the ServiceEntry keeps its ports and loses its endpoints (an EDS update, not a push).
        return dubbo && (dubbo.spec.endpoints ?? []).length === 0 && !consul;
      },
      { what: 'demo endpoints gone from istiod', timeoutMs: 60_000, intervalMs: 500 },
    );
    await composeOk(['start', 'demo']);
    const ip = await ipOf('demo');
    await waitFor(() => demoServed(ip), { what: 'demo back in istiod', timeoutMs: 60_000, intervalMs: 500 });
  });

  it('restarting a gateway, the other gateway and the projector never empties istiod (polled throughout)', async () => {
    const ip = await ipOf('demo');
    await waitFor(() => demoServed(ip), { what: 'demo in istiod', timeoutMs: 60_000 });
    const gaps: string[] = [];
    let polls = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const hosts = new Set((await serviceEntries(debug)).flatMap((c) => c.spec.hosts ?? []));
          const missing = [DUBBO_HOST, CONSUL_HOST].filter((h) => !hosts.has(h));
          if (missing.length) gaps.push(`${new Date().toISOString()} missing ${missing.join(',')}`);
        } catch (e) {
          gaps.push(`${new Date().toISOString()} istiod unreadable: ${(e as Error).message}`);
        }
        polls++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      for (const service of ['gateway-1', 'gateway-2', 'projector']) {
        const t = performance.now();
        await composeOk(['restart', service]);
        await waitFor(async () => (await health())[service] === 'running/healthy', {
          what: `${service} healthy after restart`,
          timeoutMs: 120_000,
          intervalMs: 500,
        });
        timings.push(`restart ${service} → healthy ${((performance.now() - t) / 1000).toFixed(1)} s`);
      }
      // istiod is back on both gateways (each lists it among its streams) before we stop watching.
      await waitFor(
        async () => {
          const lists = await Promise.all(
            [ports.gateway1, ports.gateway2].map(
              async (p) => (await (await fetch(`http://127.0.0.1:${p}/debug/istiods`)).json()) as unknown[],
            ),
          );
          return lists.every((l) => l.length > 0);
        },
        { what: 'istiod connected to both gateways again', timeoutMs: 120_000, intervalMs: 500 },
      );
    } finally {
      stop = true;
      await loop;
    }
    assert.ok(polls > 50, `istiod polled only ${polls} times`);
    assert.deepEqual(gaps, [], `istiod lost ServiceEntries during the restarts (${gaps.length} of ${polls} polls)`);
    // And changes still flow through the restarted pipeline.
    await composeOk(['stop', 'demo']);
    await waitFor(async () => !(await find(CONSUL_HOST)), {
      what: 'consul demo gone after restarts',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await composeOk(['start', 'demo']);
    await waitFor(async () => demoServed(await ipOf('demo')), {
      what: 'demo back after restarts',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
  });

  it('down && up keeps the Kafka event log, and `meshbridge verify` in a container agrees with Redis', async () => {
    const before = await topicEnds();
    assert.equal(Object.keys(before).length, 6, `topic ${TOPIC} partitions: ${JSON.stringify(before)}`);
    assert.ok(Object.values(before).reduce((a, b) => a + b, 0) > 0, 'events in the topic');
    await composeOk(['down', '--timeout', '10']);
    let t = performance.now();
    await composeOk(['up', '-d', '--wait', '--wait-timeout', '300'], 10 * 60_000);
    timings.push(`down, up -d --wait ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const afterUp = await topicEnds();
    for (const [p, end] of Object.entries(before))
      assert.ok(
        (afterUp[p] ?? -1) >= end,
        `partition ${p}: end offset ${afterUp[p]} after up < ${end} before down (the log was lost)`,
      );
    await waitFor(async () => demoServed(await ipOf('demo')), {
      what: 'demo in istiod after down/up',
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    t = performance.now();
    const verify = await waitFor(
      async () => {
        const r = await compose(['exec', '-T', 'projector', 'meshbridge', 'verify']);
        // exit 3 (cannot verify) can be transient while the stack settles; 1 is a real mismatch: fail at once.
        if (r.code === 1)
          throw Object.assign(new Error(`meshbridge verify: MISMATCH\n${r.stdout}${r.stderr}`), { fatal: true });
        return r.code === 0 ? r : undefined;
      },
      { what: 'meshbridge verify exit 0', timeoutMs: 60_000, intervalMs: 1000 },
    );
    timings.push(`verify ${((performance.now() - t) / 1000).toFixed(1)} s`);
    assert.match(verify.stdout, /stored offsets: /);
    console.log(
      verify.stdout
        .trim()
        .split('\n')
        .map((l) => `# ${l}`)
        .join('\n'),
    );
  });

  it('down -v removes every container, network and volume of the project', async () => {
    await saveLogs('before-down-v');
    await composeOk(['down', '-v', '--timeout', '10']);
    const label = `label=com.docker.compose.project=${PROJECT}`;
    for (const what of [
      ['ps', '-a', '-q'],
      ['volume', 'ls', '-q'],
      ['network', 'ls', '-q'],
    ]) {
      const r = await engine.docker([...what, '--filter', label]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), '', `${what.join(' ')} still lists: ${r.stdout}`);
    }
  });
});
