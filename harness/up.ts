import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { makeRunDir } from './paths.ts';
import { startServers, pipeline, startIstiodFor } from './stack.ts';
import { DubboRegistrar } from './dubbo-registrar.ts';
import { proxyView } from './xds-probe.ts';
import { waitFor } from './wait.ts';
import type { IstiodServer } from './istiod.ts';

const IFACE = 'org.apache.dubbo.demo.DemoService';
const say = (s = '') => {
  if (process.stdout.writable) process.stdout.write(`${s}\n`);
};
const step = (s: string) => say(`\n==> ${s}`);

/**
 * `meshbridge up`: the whole pipeline on this machine with embedded defaults. Installs what is missing (cached),
 * starts Kafka, Redis, ZooKeeper, the three roles and istiod, registers a demo Dubbo provider the way Dubbo does,
 * and shows what istiod holds and hands to sidecars. Ctrl-C stops everything; --once stops after showing it.
 */
export async function up(argv = process.argv.slice(3)): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { once: { type: 'boolean', default: false } }, strict: true });
  const started = performance.now();
  const runDir = makeRunDir('up');
  step(`starting Kafka, Redis, ZooKeeper (installing on first run; logs in ${runDir})`);
  const servers = await startServers(runDir, { istiod: true });
  say(
    `    kafka ${servers.kafka.brokers[0]}   redis ${servers.redis.url}   zookeeper ${servers.zookeeper.connectString}`,
  );
  const mb = await pipeline(servers);
  let istiod: IstiodServer | undefined;
  let dubbo: DubboRegistrar | undefined;
  let stopped: Promise<void> | undefined;
  // Idempotent: signals, a closed stdout and errors may all ask to stop, possibly more than once.
  const stop = () =>
    (stopped ??= (async () => {
      step('stopping');
      dubbo?.close();
      await istiod?.stop();
      await mb.stop();
      await servers.stop();
      say('    stopped everything.');
    })());
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
  // The servers run in their own process groups: if our output goes away (`meshbridge up | head`), stop them
  // rather than die on EPIPE and leave them running.
  process.stdout.on('error', () => void stop().then(() => process.exit(0)));
  try {
    step('starting meshbridge: projector, gateway, collector');
    await Promise.all([
      mb.start('projector', { name: 'projector' }),
      mb.start('gateway', { name: 'gateway' }),
      mb.start('collector', { name: 'collector' }),
    ]);
    say(`    config ${mb.configFile}`);

    step(`registering a demo Dubbo provider in ZooKeeper (${mb.config.sources[0].root}/${IFACE}/providers)`);
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
    await dubbo.register(IFACE, '127.0.0.1', 20880, { version: '1.0.0' });
    await dubbo.register(IFACE, '127.0.0.2', 20880, { version: '1.0.0' });
    say('    dubbo://127.0.0.1:20880 and dubbo://127.0.0.2:20880 (version 1.0.0)');

    await waitFor(async () => (await fetch(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).ok, {
      what: 'gateway ready (complete snapshot)',
      timeoutMs: 60_000,
    });
    step(
      `starting istiod with configSources: xds://127.0.0.1:${mb.ports.gatewayGrpc}` +
        (mb.ports.gatewayGrpcs.length > 1 ? ` … :${mb.ports.gatewayGrpcs.at(-1)} (one per shard)` : ''),
    );
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);

    const host = 'org.apache.dubbo.demo.demoservice';
    const cluster = `outbound|20880||${host}`;
    const se = await waitFor(
      async () => {
        const all = (await istiod!.debug('/debug/configz')) as { kind: string; metadata: any; spec: any }[];
        return all.find(
          (c) => c.kind === 'ServiceEntry' && c.spec.hosts?.includes(host) && c.spec.endpoints?.length === 2,
        );
      },
      { what: 'the ServiceEntry in istiod', timeoutMs: 30_000 },
    );
    step(`istiod holds (GET http://127.0.0.1:${istiod.monitoringPort}/debug/configz):`);
    const shown = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: se.metadata.name, namespace: se.metadata.namespace },
      spec: se.spec,
    };
    say(YAML.stringify(shown).replace(/^/gm, '    '));
    const view = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod!.grpcPort}`, (c) => c === cluster);
        return v.endpoints[cluster]?.length === 2 ? v : undefined;
      },
      { what: 'EDS from istiod', timeoutMs: 30_000 },
    );
    step(`istiod hands a sidecar (its xDS on 127.0.0.1:${istiod.grpcPort}):`);
    say(`    cluster  ${cluster}`);
    for (const ep of view.endpoints[cluster] ?? []) say(`    endpoint ${ep.address}:${ep.port}`);

    step(`up in ${((performance.now() - started) / 1000).toFixed(1)} s. Where to look:`);
    say(`    gateway   http://127.0.0.1:${mb.ports.gatewayHttp}/debug/resources  /debug/istiods  /metrics  /readyz`);
    say(`    projector http://127.0.0.1:${mb.ports.projectorHttp}/metrics`);
    say(`    collector http://127.0.0.1:${mb.ports.collectorHttp}/metrics`);
    say(
      `    istiod    http://127.0.0.1:${istiod.monitoringPort}/debug/configz  /debug/registryz  /debug/endpointShardz`,
    );
    say(`    logs      ${runDir}`);
    say(
      `    register more providers under ${mb.config.sources[0].root}/<interface>/providers in ZooKeeper ${servers.zookeeper.connectString}`,
    );
    if (values.once) {
      await stop();
      return;
    }
    say('\n    Ctrl-C stops everything.');
    await new Promise(() => undefined);
  } catch (e) {
    await stop();
    throw e;
  }
}
