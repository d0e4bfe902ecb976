import { Writable } from 'node:stream';
import { pino, type Level } from 'pino';
import { Registry } from 'prom-client';
import type { SourceConfig } from '../../services/shared/config.ts';
import { ConsulSource } from './consul-source.ts';
import { EurekaSource } from './eureka-source.ts';
import { NacosSource } from './nacos-source.ts';
import type { DeciderState } from './decider.ts';
import { mergeHostStates } from './host-merge.ts';
import { collectorMetrics } from './metrics.ts';
import type { EventSink } from './publisher.ts';
import type { RegistrySource } from './source.ts';
import { ZooKeeperDubboSource } from './zookeeper-dubbo-source.ts';
import type { ExpectedHost, RegistryRead } from '../../schemas/registry-read.ts';
import { RegistryUnreadable } from '../../services/shared/errors.ts';

/** Where the one-shot read's decided events go: nowhere. The decider's state is what the collector would publish. */
class DiscardingSink implements EventSink {
  publishState(): Promise<void> {
    return Promise.resolve();
  }
  publishRemoval(): Promise<void> {
    return Promise.resolve();
  }
  publishResyncEnd(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The adapters' log: kept quiet (a re-read reports every registry data problem again, once per round), except what
 * MESHBRIDGE_LOG_LEVEL asks for on stderr; the last error is kept to say why a read failed (the adapters retry a
 * failed re-read in the background instead of throwing).
 */
function adapterLog(sourceId: string): { log: pino.Logger; lastError: () => string | undefined } {
  const wanted = process.env.MESHBRIDGE_LOG_LEVEL as Level | undefined;
  const forward = wanted ? (pino.levels.values[wanted] ?? Infinity) : Infinity;
  let last: string | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = chunk.toString();
      try {
        const rec = JSON.parse(line) as { level: number; msg?: string; err?: string };
        if (rec.level >= 50) last = rec.err ?? rec.msg ?? 'error';
        if (rec.level >= forward) process.stderr.write(line);
      } catch {
        /* not a log record */
      }
      done();
    },
  });
  const level = wanted && (pino.levels.values[wanted] ?? 50) < 50 ? wanted : 'error';
  return { log: pino({ level, base: { role: 'verify-registry', source: sourceId } }, sink), lastError: () => last };
}

function makeSource(src: SourceConfig, sink: EventSink, log: pino.Logger): RegistrySource {
  const metrics = collectorMetrics(new Registry());
  if (src.kind === 'eureka') return new EurekaSource(src, sink, log, metrics);
  if (src.kind === 'nacos') return new NacosSource(src, sink, log, metrics);
  return src.kind === 'consul'
    ? new ConsulSource(src, sink, log, metrics)
    : new ZooKeeperDubboSource(src, sink, log, metrics);
}

/** What a decider holds, as the mesh hosts the collector publishes: per host, the merge of its registry keys' states. */
export function publishedHosts(state: DeciderState): Map<string, ExpectedHost> {
  const hosts = new Map<string, ExpectedHost>();
  for (const key of [...state.hosts.keys()].sort()) {
    const members = [...(state.hostKeys.get(key) ?? [])].flatMap((k) => {
      const r = state.keys.get(k);
      return r ? [{ key: k, state: r.state }] : [];
    });
    if (members.length === 0) continue;
    const { state: s } = mergeHostStates(members);
    hosts.set(key, {
      namespace: s.namespace,
      host: s.host,
      registryService: s.registryService,
      ports: s.ports,
      instances: s.instances,
    });
  }
  return hosts;
}

/**
 * Reads one configured registry completely, with the collector's own adapter and decider (so normalisation, host
 * templates, label rules, health filters and collisions are exactly the collector's), and returns what the collector
 * would publish. The adapter's first full re-read is the read; it is stopped right after.
 */
export async function readRegistry(src: SourceConfig, timeoutMs = 60_000): Promise<RegistryRead> {
  const { log, lastError } = adapterLog(src.id);
  const source = makeSource(src, new DiscardingSink(), log);
  const name = `source ${src.id} (${src.kind})`;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RegistryUnreadable(
              `${name}: no complete read within ${timeoutMs / 1000} s${lastError() ? ` (last error: ${lastError()})` : ''}`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([source.start(), timeout]);
    } catch (e) {
      if (e instanceof RegistryUnreadable) throw e;
      throw new RegistryUnreadable(`${name}: ${(e as Error).message}`);
    }
    if (!source.firstResyncDone)
      throw new RegistryUnreadable(`${name}: the registry could not be read: ${lastError() ?? 'unknown error'}`);
    const state = source.core.state;
    return {
      sourceId: src.id,
      kind: src.kind,
      emptyProtection: src.emptyProtection,
      registryServices: state.keys.size,
      hosts: publishedHosts(state),
    };
  } finally {
    clearTimeout(timer);
    // A read that timed out may still be waiting on the registry: stop without waiting for it for long.
    await Promise.race([source.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}
