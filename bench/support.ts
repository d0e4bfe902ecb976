/** What the benchmarks share: bounded concurrency, percentiles, process CPU and memory, ZooKeeper and Kafka setup. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { zookeeper, type ZkClient } from '../services/collector/zk-client.ts';
import { projectRoot } from '../harness/paths.ts';
import type { ManagedProcess } from '../harness/process.ts';
import { metricSum } from '../harness/prom-text.ts';
import type { Pipeline } from '../harness/stack.ts';
import { waitFor } from '../harness/wait.ts';

/** Writes a benchmark's result as pretty JSON to bench/results/<name>; returns the file's path. */
export function writeResult(name: string, result: unknown): string {
  const file = path.join(projectRoot, 'bench', 'results', name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** node flags from an environment variable (space-separated, '' for none), or `defaults` when it is not set. */
export function nodeFlagsFromEnv(name: string, defaults: readonly string[]): readonly string[] {
  const v = process.env[name];
  return v === undefined ? defaults : v.split(' ').filter(Boolean);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** The p-th percentile of an ascending list (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** n, p50, p90, p99 and max of a list of latencies. */
export function latencySummary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
  };
}

/** Resident memory (now and its peak) and CPU seconds (user + system) of a process, from /proc. */
export function procStats(pid: number | undefined): { rssMiB: number; peakRssMiB: number; cpuSeconds: number } {
  if (!pid) return { rssMiB: 0, peakRssMiB: 0, cpuSeconds: 0 };
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return {
    rssMiB: Math.round(kib('VmRSS')),
    peakRssMiB: Math.round(kib('VmHWM')),
    cpuSeconds: (Number(stat[11]) + Number(stat[12])) / 100,
  };
}

/** The machine a result was measured on (CPU count and model, Node version), plus what the caller adds. */
export function machineInfo(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, ...extra };
}

/** Creates a znode; one that exists already is fine. */
export function createNode(client: ZkClient, p: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) =>
    client.create(p, mode, (e) =>
      e && (e as { getCode?: () => number }).getCode?.() !== zookeeper.Exception.NODE_EXISTS ? reject(e) : resolve(),
    ),
  );
}

/**
 * The event topic, created before the collector with broker-stamped append times (LogAppendTime), so latencies are
 * measured against the broker's clock, not the producer's.
 */
export async function createAppendTimeTopic(brokers: string[], topic: string, partitions: number): Promise<void> {
  const admin = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: [
            { name: 'message.timestamp.type', value: 'LogAppendTime' },
            { name: 'retention.ms', value: '-1' },
            { name: 'max.message.bytes', value: '16777216' },
          ],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Starts the collector of `mb` and waits for its first full pass over `source` (its resyncs counter): the registry
 * benchmarks' initial-load figure, process start included.
 */
export async function startCollectorFirstPass(
  mb: Pipeline,
  source: string,
  opts: { timeoutMs: number; intervalMs: number },
): Promise<{ proc: ManagedProcess; seconds: number; events: number }> {
  const t0 = performance.now();
  const proc = await mb.start('collector', { env: { MESHBRIDGE_LOG_LEVEL: 'info' } });
  const port = mb.ports.collectorHttp;
  await waitFor(async () => (await metricSum(port, 'meshbridge_collector_resyncs_total', { source })) >= 1, {
    what: `the collector's first full pass over ${source}`,
    ...opts,
  });
  const seconds = (performance.now() - t0) / 1000;
  const events = await metricSum(port, 'meshbridge_collector_events_published_total', { source });
  return { proc, seconds, events };
}
