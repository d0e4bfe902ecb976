import type { ServedKind } from '../../schemas/type-urls.ts';
import type { Logger } from '../../services/shared/log.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { RequestDecision } from './stream-state.ts';

export interface StreamInfo {
  streamId: string;
  nodeId: string;
  peer: string;
  shard: number;
}

export interface PushEvent {
  streamId: string;
  typeUrl: string;
  version: string;
  bytes: number;
  at: number;
  serverMs: number;
}

export interface Pushed extends PushEvent {
  nodeId: string;
  shard: number;
  /** The served kind, or undefined for the empty answer of a type this gateway does not serve. */
  served: ServedKind | undefined;
  /** An empty MeshConfig answer sent only to fill istiod's response buffer (stream-state.ts, padTo). */
  padding: boolean;
  /** Resources in the message when it was built for this push (undefined when shared from the cache). */
  resources: number | undefined;
  /** Time since the snapshot was read from Redis, for a push that answers a change (not a subscription). */
  sinceReadMs: number | undefined;
}

/** What the ADS transport reports; metrics and logs live behind it, not in the transport. */
export interface AdsObserver {
  streamOpened(s: StreamInfo): void;
  streamClosed(s: StreamInfo, why: string): void;
  requested(s: StreamInfo, d: RequestDecision, ackMs: number | undefined): void;
  pushed(p: Pushed): void;
}

/** The gateway's observer: Prometheus metrics, structured logs, and an optional push hook (benchmarks, tests). */
export function metricsObserver(metrics: GatewayMetrics, log: Logger, onPushed?: (e: PushEvent) => void): AdsObserver {
  return {
    streamOpened(s) {
      metrics.streams.inc();
      log.info({ stream: s.streamId, peer: s.peer }, 'istiod stream opened');
    },
    streamClosed(s, why) {
      metrics.streams.dec();
      log.info({ stream: s.streamId, node: s.nodeId, why }, 'istiod stream closed');
    },
    requested(s, d, ackMs) {
      if (d.kind === 'subscribe') log.debug({ stream: s.streamId, typeUrl: d.typeUrl }, 'subscribed');
      else if (d.kind === 'ack') {
        metrics.acks.inc();
        log.debug(
          { stream: s.streamId, node: s.nodeId, shard: s.shard, typeUrl: d.typeUrl, version: d.version },
          'acked',
        );
        if (ackMs !== undefined && d.version !== '') metrics.ackSeconds.observe(ackMs / 1000);
      } else if (d.kind === 'nack') {
        metrics.nacks.inc();
        log.warn(
          { stream: s.streamId, node: s.nodeId, typeUrl: d.typeUrl, version: d.version, error: d.message },
          'istiod rejected a response',
        );
      }
    },
    pushed(p) {
      metrics.pushes.inc({ type: p.padding ? 'padding' : (p.served ?? 'other') });
      metrics.pushBytes.inc(p.bytes);
      metrics.pushSeconds.observe(p.serverMs / 1000);
      if (p.sinceReadMs !== undefined) metrics.changeToPushSeconds.observe(p.sinceReadMs / 1000);
      if (!p.served) return;
      onPushed?.({
        streamId: p.streamId,
        typeUrl: p.typeUrl,
        version: p.version,
        bytes: p.bytes,
        at: p.at,
        serverMs: p.serverMs,
      });
      // debug, like 'acked': one line per push per stream is ~300 lines a second at 100 changes/s and three istiods.
      // The pushes_total and push_bytes_total metrics count them; /debug/istiods shows each stream's versions sent and acknowledged.
      log.debug(
        {
          stream: p.streamId,
          node: p.nodeId,
          shard: p.shard,
          typeUrl: p.typeUrl,
          version: p.version,
          resources: p.resources,
          bytes: p.bytes,
        },
        'pushed',
      );
    },
  };
}
