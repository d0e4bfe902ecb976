import * as grpc from '@grpc/grpc-js';
import type { AdsObserver, StreamInfo } from './ads-observer.ts';
import { LoadGarbage } from './load-garbage.ts';
import { type KindList, shareItemBytes, sharesItemBytes, type Snapshot } from './snapshot.ts';
import { StreamState, type Send, type SnapshotGate } from './stream-state.ts';
import { pushDelay } from './push-window.ts';
import { changedShards } from './changed-shards.ts';
import { encodeFramedResponse, encodeFramedResponseViews, ResponseBodyCache } from './response-encoder.ts';
import { installFramedWrites } from './framed-write.ts';
import { decodeDiscoveryRequest, type DiscoveryRequestFields } from './request-decoder.ts';
import { ALL, select, viewFor, type View, type ViewConfig } from './view.ts';

/** What the server needs from the snapshot side: the current snapshot and change notifications. */
export interface SnapshotSource {
  readonly current: Snapshot | undefined;
  on(event: 'change', cb: () => void): unknown;
}

export interface ConnectedIstiod {
  streamId: string;
  nodeId: string;
  revision: string;
  istioVersion: string;
  /** Namespaces this istiod is served ('*' = all). */
  view: string;
  /** The shard (config source) this stream serves: the listener it connected to. */
  shard: number;
  peer: string;
  connectedAt: string;
  types: Record<string, { lastVersion?: string; acked?: string; awaitingAck: boolean }>;
}

export interface AdsServerOptions {
  debounceMs: number;
  view?: ViewConfig;
  /** Config sources the snapshot is split into (shard.ts); one listener each. */
  shards?: number;
  /** Responses each stream is padded to with empty MeshConfig answers (StreamState's padTo); 0 = none. */
  istiodBufferPadding?: number;
}

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

export const adsServiceDefinition: grpc.ServiceDefinition = {
  StreamAggregatedResources: {
    path: `${ADS}/StreamAggregatedResources`,
    requestStream: true,
    responseStream: true,
    // The server only decodes requests (by hand: request-decoder.ts); clients here send bytes.
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: decodeDiscoveryRequest,
    // Responses are assembled from pre-encoded bytes: serialisation is the identity.
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
  DeltaAggregatedResources: {
    path: `${ADS}/DeltaAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

type Call = grpc.ServerDuplexStream<DiscoveryRequestFields, Buffer>;

/** gRPC's message prefix (compressed flag + length), not counted in the response sizes reported. */
const FRAME_PREFIX = 5;

/** Ends a server stream with a status (grpc-js turns an 'error' event on a server stream into its trailers). */
function endWith(call: grpc.ServerDuplexStream<unknown, unknown>, code: grpc.status, details: string): void {
  call.emit('error', { code, details });
}

class Stream {
  readonly state: StreamState;
  info: Omit<ConnectedIstiod, 'types'> & StreamInfo;
  blocked = false;
  /** Fixed by the stream's first node: a view change on a live stream would look like deletions to istiod. */
  view: View | undefined;

  constructor(
    readonly call: Call,
    id: string,
    readonly shard: number,
    padTo: number,
  ) {
    this.state = new StreamState(id, padTo);
    this.info = {
      streamId: id,
      nodeId: '',
      revision: '',
      istioVersion: '',
      view: '',
      shard,
      peer: call.getPeer(),
      connectedAt: new Date().toISOString(),
    };
  }
}

/**
 * The istiod-facing ADS server (state of the world). The snapshot side and the transport meet only through
 * SnapshotSource; each response body is encoded once per snapshot, type and view and shared by all streams.
 */
export class AdsServer {
  /** One listener per shard: istiod has one config source (one ADS stream) per shard address. */
  private readonly servers: grpc.Server[];
  private readonly streams = new Map<string, Stream>();
  /** The same streams by shard: a push tick visits only the shards that changed. */
  private readonly byShard: Set<Stream>[];
  /** Newest kind-list changedAt a push tick has handled (changed-shards.ts). */
  private pushedSeq = 0;
  private readonly bodies = new ResponseBodyCache();
  private readonly loadGarbage = new LoadGarbage();
  private readonly sentAt = new Map<string, number>();
  private readonly viewConfig: ViewConfig;
  private seq = 0;
  private debounce: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(
    private readonly source: SnapshotSource,
    private readonly observer: AdsObserver,
    private readonly opts: AdsServerOptions,
  ) {
    // Fails here, at start-up, if the installed grpc-js is not one the pre-framed write was checked against.
    installFramedWrites();
    this.viewConfig = opts.view ?? { namespaces: [], revisions: {} };
    this.servers = Array.from({ length: Math.max(1, opts.shards ?? 1) }, (_, shard) => {
      const server = new grpc.Server({
        'grpc.max_send_message_length': -1,
        'grpc.max_receive_message_length': 16 * 1024 * 1024,
        // istiod pings every 30 s on an open stream, without waiting for data: never answer those with GOAWAY.
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      });
      server.addService(adsServiceDefinition, {
        StreamAggregatedResources: (call: Call) => this.onStream(call, shard),
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          endWith(
            call,
            grpc.status.UNIMPLEMENTED,
            'meshbridge serves state-of-the-world ADS only (istiod has no delta MCP client)',
          );
        },
      });
      return server;
    });
    this.byShard = this.servers.map(() => new Set<Stream>());
    source.on('change', () => this.schedulePush());
  }

  /**
   * Binds shard i to `port + i` (every shard to a port of the system's choice when `port` is 0). Returns the bound
   * ports, in shard order.
   */
  async listen(host: string, port: number, creds = grpc.ServerCredentials.createInsecure()): Promise<number[]> {
    const bound: number[] = [];
    for (const [i, server] of this.servers.entries()) {
      bound.push(
        await new Promise<number>((resolve, reject) => {
          server.bindAsync(`${host}:${port === 0 ? 0 : port + i}`, creds, (e, p) => (e ? reject(e) : resolve(p)));
        }),
      );
    }
    return bound;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  connected(): ConnectedIstiod[] {
    return [...this.streams.values()].map((s) => {
      const types: ConnectedIstiod['types'] = {};
      for (const [t, st] of s.state.types)
        types[t] = { lastVersion: st.lastVersion, acked: st.acked, awaitingAck: st.awaitingAck };
      return { ...s.info, types };
    });
  }

  /** Largest gap between the served version and one an istiod acknowledged (served types). */
  maxAckedLag(): number {
    const v = this.source.current?.version ?? 0;
    let lag = 0;
    for (const s of this.streams.values()) {
      for (const t of s.state.types.values()) if (t.served) lag = Math.max(lag, v - Number(t.acked ?? 0));
    }
    return lag;
  }

  private onStream(call: Call, shard: number): void {
    if (this.draining) {
      endWith(call, grpc.status.UNAVAILABLE, 'gateway shutting down');
      return;
    }
    const s = new Stream(call, `s${++this.seq}`, shard, this.opts.istiodBufferPadding ?? 0);
    this.streams.set(s.state.streamId, s);
    this.byShard[shard]!.add(s);
    this.observer.streamOpened(s.info);
    call.on('data', (req: DiscoveryRequestFields) => this.onRequest(s, req));
    call.on('drain', () => {
      s.blocked = false;
      this.pushStream(s);
    });
    const close = (why: string) => {
      if (!this.streams.delete(s.state.streamId)) return;
      this.byShard[shard]!.delete(s);
      for (const t of s.state.types.keys()) this.sentAt.delete(`${s.state.streamId}|${t}`);
      this.observer.streamClosed(s.info, why);
    };
    call.on('end', () => {
      close('client ended');
      call.end();
    });
    call.on('error', (e) => close(e.message));
    call.on('cancelled', () => close('cancelled'));
    call.on('close', () => close('closed'));
  }

  private onRequest(s: Stream, req: DiscoveryRequestFields): void {
    if (req.node?.id && !s.view) {
      const md = req.node.metadata;
      s.info.nodeId = req.node.id;
      s.info.revision = md.ISTIO_REVISION ?? '';
      s.info.istioVersion = md.ISTIO_VERSION ?? '';
      s.view = viewFor(this.viewConfig, s.info.revision);
      s.info.view = s.view.key;
    }
    const typeUrl = req.typeUrl;
    const d = s.state.onRequest({
      typeUrl,
      responseNonce: req.responseNonce,
      versionInfo: req.versionInfo,
      ...(req.errorDetail?.message ? { errorMessage: req.errorDetail.message } : {}),
    });
    if (d.kind === 'stale') return;
    const sentAt = d.kind === 'ack' ? this.sentAt.get(`${s.state.streamId}|${typeUrl}`) : undefined;
    this.observer.requested(s.info, d, sentAt === undefined ? undefined : performance.now() - sentAt);
    this.pushStream(s);
  }

  private schedulePush(): void {
    if (this.debounce) return;
    this.debounce = setTimeout(
      () => {
        this.debounce = undefined;
        this.lastPushAt = performance.now();
        const snap = this.source.current;
        if (!snap) return;
        const { shards, maxSeq } = changedShards(snap, this.pushedSeq);
        this.pushedSeq = maxSeq;
        for (const shard of shards) for (const s of this.byShard[shard] ?? []) this.pushStream(s);
      },
      pushDelay(this.lastPushAt, performance.now(), this.opts.debounceMs),
    );
  }
  private lastPushAt = -Infinity;

  /**
   * A kind list's message. The everything-view's message (`whole`: items are the list's own) also becomes where the
   * list holds its bytes (snapshot.ts sharesItemBytes); after a full load, the load's buffers are then collected.
   */
  private encodeList(kind: KindList, items: readonly Buffer[], whole: boolean, send: Send): Buffer {
    if (!whole || !sharesItemBytes(kind)) return encodeFramedResponse(send.version, send.typeUrl, items, send.nonce);
    const { msg, views } = encodeFramedResponseViews(send.version, send.typeUrl, items, send.nonce);
    shareItemBytes(kind, views);
    if (kind.fromLoad) this.loadGarbage.served(kind);
    return msg;
  }

  /**
   * Sends every type this stream is owed, newest state only. Skipped while the stream's buffer is full (resumed on
   * 'drain'), and per type while the previous response awaits its ACK: a slow istiod gets the newest version when it
   * can take it, never a queue of stale ones.
   */
  private pushStream(s: Stream): void {
    if (s.blocked || this.draining) return;
    const snap = this.source.current;
    const view = s.view ?? ALL;
    const shard = s.shard;
    const gate: SnapshotGate | undefined = snap && {
      version: snap.version,
      complete: snap.complete,
      changedAt: (k) => snap.kinds[k][shard]!.changedAt,
    };
    for (const send of s.state.plan(gate)) {
      const start = performance.now();
      let resources: number | undefined;
      // A served kind's message (nonce included) is built once per (kind list, type, view, shard), framed for the
      // wire, and the same Buffer is written to every stream: a push to N istiods copies nothing (framed-write.ts).
      // Unserved types and MeshConfig get one empty answer, so istiod's initial sync completes (and padding is empty
      // MeshConfig answers).
      const served = send.served;
      const msg =
        served && snap
          ? this.bodies.get(snap, `${send.typeUrl}|${view.key}|${shard}`, () => {
              const kind = snap.kinds[served][shard]!;
              const items = select(view, kind.names, kind.items);
              resources = items.length;
              return this.encodeList(kind, items, view === ALL, send);
            })
          : encodeFramedResponse(send.version, send.typeUrl, [], send.nonce);
      s.state.sent(send);
      const ok = s.call.write(msg);
      const now = performance.now();
      this.sentAt.set(`${s.state.streamId}|${send.typeUrl}`, now);
      this.observer.pushed({
        streamId: s.state.streamId,
        nodeId: s.info.nodeId,
        shard,
        typeUrl: send.typeUrl,
        version: send.version,
        bytes: msg.length - FRAME_PREFIX,
        at: now,
        serverMs: now - start,
        served,
        padding: send.padding === true,
        resources,
        sinceReadMs: served && snap && send.followUp ? now - snap.readAt : undefined,
      });
      if (!ok) {
        s.blocked = true; // back-pressure: resume on 'drain' with whatever is newest then
        return;
      }
    }
  }

  /**
   * Graceful: refuse new streams, end the open ones with UNAVAILABLE (istiod retries at once, through its address, to
   * another replica — keeping its config meanwhile), then close the listener. Streams that cannot take their trailers
   * within `graceMs` (a stuck peer) are cut.
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    this.draining = true;
    if (this.debounce) clearTimeout(this.debounce);
    this.loadGarbage.stop();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        for (const server of this.servers) server.forceShutdown();
        resolve();
      }, graceMs);
      for (const s of this.streams.values()) endWith(s.call, grpc.status.UNAVAILABLE, 'gateway shutting down');
      let open = this.servers.length;
      for (const server of this.servers)
        server.tryShutdown(() => {
          if (--open === 0) {
            clearTimeout(t);
            resolve();
          }
        });
    });
  }
}
