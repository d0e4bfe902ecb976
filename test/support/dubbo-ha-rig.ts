import fs from 'node:fs';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from './dubbo-registry.ts';
import { CollectorReplicas } from './collector-replicas.ts';
import { IstiodWatch } from './istiod-watch.ts';

type ZkSource = Pipeline['config']['sources'][number];

/** The mesh host the collector makes of a Dubbo interface (source defaults). */
export const dubboHost = (iface: string) => `dubbo/${iface.toLowerCase()}`;

/**
 * The stack of the collector tests that break things while services are registered: Dubbo providers in a real
 * ZooKeeper, collector replicas `a` and `b`, the projector, the gateway, and a real istiod polled ten times a second
 * by an IstiodWatch over everything registered through `register`.
 */
export class DubboHaRig {
  readonly registered = new Set<string>();
  servers!: Servers;
  mb!: Pipeline;
  dubbo!: DubboRegistrar;
  replicas!: CollectorReplicas;
  istiod!: IstiodServer;
  watch!: IstiodWatch;

  /** `base`: interfaces registered (provider i at `baseIp(i)`:20880) before anything starts. */
  static async start(
    label: string,
    o: { base: string[]; baseIp: (i: number) => string; source: (src: ZkSource) => void },
  ): Promise<DubboHaRig> {
    const rig = new DubboHaRig();
    rig.servers = await startServers(makeRunDir(label), { istiod: true });
    rig.mb = await pipeline(rig.servers, {});
    o.source(rig.mb.config.sources[0]!);
    fs.writeFileSync(rig.mb.configFile, JSON.stringify(rig.mb.config));
    rig.dubbo = await DubboRegistrar.open(rig.servers.zookeeper.connectString, rig.mb.config.sources[0]!.root);
    await Promise.all(o.base.map((iface, i) => rig.register(iface, o.baseIp(i))));
    rig.replicas = new CollectorReplicas(rig.mb, 'zk1');
    await Promise.all([
      rig.mb.start('projector'),
      rig.mb.start('gateway'),
      rig.replicas.start('a'),
      rig.replicas.start('b'),
    ]);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${rig.mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    rig.istiod = await startIstiodFor(rig.servers, rig.mb.ports.gatewayGrpcs);
    rig.watch = new IstiodWatch(rig.istiod.debug, () => rig.registered);
    return rig;
  }

  /** Registers a provider of `iface` at `ip`:20880 and counts its service as registered. */
  async register(iface: string, ip: string): Promise<void> {
    await this.dubbo.register(iface, ip, 20880);
    this.registered.add(dubboHost(iface));
  }

  async stop(): Promise<void> {
    await this.watch?.stop();
    this.dubbo?.close();
    await this.replicas?.stopAll();
    await this.istiod?.stop();
    await this.mb?.stop();
    await this.servers?.stop();
  }
}
