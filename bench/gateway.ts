/**
 * xds-gateway benchmark (`npm run bench:gateway`): a real Redis holding 10,000 ServiceEntries × 10 endpoints written
 * with the real MCP encoder through the projector's own commit script; the gateway in-process (and once as a child
 * process for cold start). Results: bench/results/gateway.json; summary in docs/gateway.md.
 *
 * Clients here never decode resources (they read only version_info and nonce), so their cost does not pollute the
 * gateway's numbers on a shared 2-core machine; server-side times come from the gateway's own push hook.
 */
import path from 'node:path';
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { makeRunDir } from '../harness/paths.ts';
import { ensureInstalled } from '../harness/install.ts';
import { startRedis } from '../harness/redis.ts';
import { SnapshotWriter, serviceEntry } from '../harness/snapshot-writer.ts';
import { spawnGateway, startGatewayInProcess } from '../harness/gateway-fleet.ts';
import { waitFor } from '../harness/wait.ts';
import { DiscoveryRequest, protobuf } from '../schemas/proto.ts';
import type { PushEvent } from '../services/xds-gateway/ads-observer.ts';
import { writeResult, machineInfo } from './support.ts';

export const SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
export const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 10);
const STREAMS = 20;
const CHANGES = Number(process.env.BENCH_CHANGES ?? 200);
// The window the committed bench:gateway results were measured with (the product's default until session 20, now 20).
export const DEBOUNCE_MS = Number(process.env.BENCH_DEBOUNCE_MS ?? 50);
export const SE = 'networking.istio.io/v1/ServiceEntry';
const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const mem = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
};
const MiB = (b: number) => Math.round((b / 1048576) * 10) / 10;
const ms = (x: number) => Math.round(x * 100) / 100;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** An ADS client that reads only the top-level scalar fields of each response (skips the resources' bytes). */
export class LightClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  readonly got: { version: string; nonce: string; at: number; bytes: number }[] = [];
  private waiters: ((r: { version: string; nonce: string }) => void)[] = [];

  constructor(port: number, id: string, typeUrl = SE) {
    this.typeUrl = typeUrl;
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
    this.call = this.client.makeBidiStreamRequest(
      ADS,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    this.call.on('data', (b: Buffer) => {
      const r = new protobuf.Reader(b);
      let version = '';
      let nonce = '';
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag >>> 3 === 1) version = r.string();
        else if (tag >>> 3 === 5) nonce = r.string();
        else r.skipType(tag & 7);
      }
      const got = { version, nonce, at: performance.now(), bytes: b.length };
      this.got.push(got);
      for (const w of this.waiters.splice(0)) w(got);
    });
    this.call.on('error', () => undefined);
    this.id = id;
  }
  private readonly id: string;
  private readonly typeUrl: string;

  next(): Promise<{ version: string; nonce: string }> {
    return new Promise((r) => this.waiters.push(r));
  }
  send(version = '', nonce = String(Date.now())): void {
    const first = this.got.length === 0 && version === '';
    this.call.write(
      Buffer.from(
        DiscoveryRequest.encode(
          DiscoveryRequest.fromObject({
            type_url: this.typeUrl,
            version_info: version,
            response_nonce: nonce,
            ...(first ? { node: { id: this.id } } : {}),
          }),
        ).finish(),
      ),
    );
  }
  ackLast(): void {
    const l = this.got.at(-1)!;
    this.send(l.version, l.nonce);
  }
  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/**
 * The benchmark's snapshot (SERVICES ServiceEntries × ENDPOINTS endpoints), committed to Redis as the projector does;
 * `each` sees every resource's field and Any bytes (the gateway-vs-reference benchmark feeds them to the reference).
 */
export async function writeBenchSnapshot(
  redisUrl: string,
  each?: (field: string, any: Buffer) => void,
): Promise<{ writer: SnapshotWriter; bytes: number }> {
  const w = await SnapshotWriter.open(redisUrl, `bench-${Date.now()}`);
  let bytes = 0;
  for (let start = 0; start < SERVICES; start += 500) {
    const batch = new Map<string, Buffer>();
    for (let i = start; i < Math.min(SERVICES, start + 500); i++) {
      const [f, b] = serviceEntry({
        namespace: `ns-${i % 20}`,
        host: `svc-${i}.ns-${i % 20}.svc`,
        endpoints: ENDPOINTS,
        seed: i,
      });
      batch.set(f, b);
      each?.(f, b);
      bytes += b.length;
    }
    await w.commit(batch, [], { complete: start + 500 >= SERVICES });
  }
  return { writer: w, bytes };
}

async function main() {
  ensureInstalled(['redis']);
  const runDir = makeRunDir('bench-gateway');
  const redis = await startRedis(runDir);
  const results: Record<string, unknown> = {
    when: new Date().toISOString(),
    machine: machineInfo({
      loadAvgAtStart: os.loadavg().map((x) => ms(x)),
    }),
    workload: { services: SERVICES, endpointsPerService: ENDPOINTS, debounceMs: DEBOUNCE_MS, changes: CHANGES },
  };
  try {
    // 1. The snapshot, written as the projector writes it.
    const tw = performance.now();
    const { writer: w, bytes } = await writeBenchSnapshot(redis.url);
    results.snapshot = { resourceBytesMiB: MiB(bytes), writeSeconds: ms((performance.now() - tw) / 1000) };
    console.log(`snapshot: ${SERVICES} ServiceEntries, ${MiB(bytes)} MiB encoded`);

    // 2. Cold start: a gateway process from spawn to /readyz 200, and in-process from start to ready.
    const t0 = performance.now();
    const child = await spawnGateway(runDir, redis.url, w.prefix, { name: 'gateway-cold' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${child.httpPort}/readyz`)).status === 200, {
      what: 'child gateway ready',
      timeoutMs: 30_000,
      intervalMs: 10,
    });
    const processColdMs = performance.now() - t0;
    await child.proc.stop();

    const memBefore = mem();
    const pushes: PushEvent[] = [];
    let onPush: ((e: PushEvent) => void) | undefined;
    const t1 = performance.now();
    const gw = await startGatewayInProcess(
      redis.url,
      w.prefix,
      { debounceMs: DEBOUNCE_MS },
      {
        onPushed: (e) => {
          pushes.push(e);
          onPush?.(e);
        },
      },
    );
    const inProcessColdMs = performance.now() - t1;
    if (!gw.follower.current?.complete) throw new Error('gateway not ready after start');
    const memAfter = mem();
    results.coldStart = {
      processSpawnToReadyMs: ms(processColdMs),
      inProcessLoadToReadyMs: ms(inProcessColdMs),
      targetMs: 2000,
    };
    results.heap = {
      heapUsedMiB: MiB(memAfter.heapUsed - memBefore.heapUsed),
      buffersMiB: MiB(memAfter.arrayBuffers - memBefore.arrayBuffers),
      totalMiB: MiB(memAfter.heapUsed - memBefore.heapUsed + memAfter.arrayBuffers - memBefore.arrayBuffers),
      targetMiB: 64,
      note: 'JS heap and Buffer memory of the loaded snapshot, after GC (Buffers live outside the V8 heap).',
    };
    console.log('cold start', results.coldStart, 'memory', results.heap);

    // 3. One full push: the first subscriber of a version pays the encoding.
    const one = new LightClient(gw.grpcPort, 'bench-one');
    const n0 = pushes.length;
    const tr = performance.now();
    const firstResp = one.next();
    one.send();
    await firstResp;
    const firstPush = pushes[n0]!;
    results.fullPush = {
      serverMs: ms(firstPush.serverMs),
      responseMiB: MiB(firstPush.bytes),
      clientReceivedMs: ms(one.got[0]!.at - tr),
      targetMs: 50,
    };
    one.ackLast();
    console.log('full push', results.fullPush);

    // 4. Twenty istiod streams; then one change pushed to all of them (one encoding shared by 20 writes).
    const many = Array.from({ length: STREAMS }, (_, i) => new LightClient(gw.grpcPort, `bench-${i}`));
    const n1 = pushes.length;
    const ts = performance.now();
    await Promise.all(
      many.map((c) => {
        const p = c.next();
        c.send();
        return p;
      }),
    );
    const subscribe = pushes.slice(n1);
    for (const c of many) c.ackLast();
    const subscribeWall = Math.max(...many.map((c) => c.got[0]!.at)) - ts;
    await waitFor(() => gw.ads.connected().every((s) => !s.types[SE]?.awaitingAck), {
      what: 'all ACKs in',
      timeoutMs: 30_000,
      intervalMs: 5,
    });
    const n2 = pushes.length;
    const v = await w.commit(
      new Map([serviceEntry({ namespace: 'ns-0', host: 'svc-0.ns-0.svc', endpoints: ENDPOINTS, seed: 999_999 })]),
    );
    await waitFor(() => pushes.slice(n2).filter((p) => p.version === String(v)).length === STREAMS + 1, {
      what: 'push to every stream',
      timeoutMs: 30_000,
      intervalMs: 5,
    });
    const fan = pushes.slice(n2).filter((p) => p.version === String(v));
    results.concurrentStreams = {
      streams: STREAMS,
      changePushServerMs: ms(fan.reduce((a, p) => a + p.serverMs, 0)),
      changePushSpanMs: ms(Math.max(...fan.map((p) => p.at)) - Math.min(...fan.map((p) => p.at - p.serverMs))),
      initialSubscribeServerMs: ms(subscribe.reduce((a, p) => a + p.serverMs, 0)),
      initialSubscribeClientWallMs: ms(subscribeWall),
      targetMs: 200,
      note: `server time = sum of the gateway's time assembling and writing each of the ${STREAMS + 1} responses (one thread); client wall includes ${STREAMS} × ${MiB(firstPush.bytes)} MiB over loopback HTTP/2 into clients in the same process`,
    };
    console.log('concurrent', results.concurrentStreams);
    await waitFor(() => [one, ...many].every((c) => c.got.at(-1)?.version === String(v)), {
      what: 'every stream received the change',
      timeoutMs: 60_000,
      intervalMs: 5,
    });
    for (const c of [one, ...many]) c.ackLast();
    for (const c of many) c.close();

    // 5. Change record in Redis → push leaving the gateway, one stream, one change at a time (each ACKed).
    await waitFor(() => gw.ads.connected().every((s) => !s.types[SE]?.awaitingAck), {
      what: 'ACKs before latency runs',
      timeoutMs: 30_000,
      intervalMs: 5,
    });
    const lat: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const pushed = new Promise<PushEvent>((resolve) => {
        onPush = (e) => {
          if (e.streamId && e.version !== one.got.at(-1)?.version) resolve(e);
        };
      });
      const received = one.next();
      const tc = performance.now();
      const ver = await w.commit(
        new Map([
          serviceEntry({
            namespace: `ns-${i % 20}`,
            host: `svc-${i}.ns-${i % 20}.svc`,
            endpoints: ENDPOINTS,
            seed: 1_000_000 + i,
          }),
        ]),
      );
      const e = await pushed;
      if (e.version !== String(ver)) throw new Error(`pushed ${e.version}, expected ${ver}`);
      lat.push(e.at - tc);
      await received;
      one.ackLast();
      await waitFor(() => gw.ads.connected().every((s) => !s.types[SE]?.awaitingAck), {
        what: 'ACK',
        timeoutMs: 10_000,
        intervalMs: 1,
      });
    }
    onPush = undefined;
    results.changeToPush = {
      samples: lat.length,
      p50Ms: ms(pct(lat, 50)),
      p99Ms: ms(pct(lat, 99)),
      maxMs: ms(Math.max(...lat)),
      p99MinusDebounceMs: ms(pct(lat, 99) - DEBOUNCE_MS),
      targetMs: `20 + debounce (${DEBOUNCE_MS})`,
      note: 'from the start of the projector commit (Lua: HSET + INCR + XADD) to the response handed to the transport',
    };
    console.log('change -> push', results.changeToPush);
    one.close();
    await gw.stop();
    w.close();
  } finally {
    await redis.stop();
  }
  (results.machine as Record<string, unknown>).loadAvgAtEnd = os.loadavg().map((x) => ms(x));
  const out = writeResult('gateway.json', results);
  console.log(`results: ${path.relative(process.cwd(), out)}`);
}

// Run only as the benchmark itself, not when another benchmark imports its helpers.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
