import { servedKindOf, type ServedKind } from '../../schemas/type-urls.ts';

/** What the gateway should do after a request, decided from protocol state alone (no I/O). */
export type RequestDecision =
  | { kind: 'subscribe'; typeUrl: string }
  | { kind: 'ack'; typeUrl: string; version: string }
  | { kind: 'nack'; typeUrl: string; version: string; message: string }
  | { kind: 'stale'; typeUrl: string; nonce: string };

interface TypeState {
  served: ServedKind | undefined;
  lastNonce?: string;
  lastVersion?: string;
  /** Version istiod last acknowledged. */
  acked?: string;
  /** A response is in flight: wait for its ACK before sending the next (the newest state then, never a backlog). */
  awaitingAck: boolean;
  /** Kind list last sent (served kinds), to skip pushes that change nothing for this type. */
  sentChangedAt?: number;
}

export interface IncomingRequest {
  typeUrl: string;
  responseNonce: string;
  versionInfo: string;
  errorMessage?: string;
}

/** What the decision needs of the served snapshot. */
export interface SnapshotGate {
  version: number;
  complete: boolean;
  /** When a kind's list last changed (a gateway-local sequence, never 0). */
  changedAt(kind: ServedKind): number;
}

/** One response to send: a served kind's list at `changedAt`, or (served undefined) the one empty answer of a type. */
export interface Send {
  typeUrl: string;
  served: ServedKind | undefined;
  version: string;
  nonce: string;
  changedAt: number | undefined;
  /** This type was sent on the stream before (the push answers a change, not a subscription). */
  followUp: boolean;
}

/**
 * The one nonce source. A nonce names the message: a served kind's list at one change (one message shared by every
 * stream; a type is only re-sent when its list changed, so a nonce never repeats on a stream), or 0 for the single
 * empty answer of a type this gateway does not serve.
 */
export const nonceOf = (version: string, changedAt: number | undefined) => `${version}.${changedAt ?? 0}`;

/**
 * The per-stream xDS state machine for istiod as an MCP client (docs/protocol.md), and the gateway's send decision:
 * - the first request of a type on a stream is a subscription whatever its nonce (istiod sends a made-up one);
 * - a request echoing the last nonce is an ACK (istiod never NACKs, but an error_detail is still recorded);
 * - any other nonce is stale and ignored;
 * - what to send (plan) follows from this state and the snapshot alone; the transport only writes it.
 */
export class StreamState {
  readonly types = new Map<string, TypeState>();

  constructor(readonly streamId: string) {}

  onRequest(req: IncomingRequest): RequestDecision {
    const t = this.types.get(req.typeUrl);
    if (!t) {
      this.types.set(req.typeUrl, { served: servedKindOf(req.typeUrl), awaitingAck: false });
      return { kind: 'subscribe', typeUrl: req.typeUrl };
    }
    if (req.responseNonce !== t.lastNonce) return { kind: 'stale', typeUrl: req.typeUrl, nonce: req.responseNonce };
    t.awaitingAck = false;
    if (req.errorMessage)
      return { kind: 'nack', typeUrl: req.typeUrl, version: req.versionInfo, message: req.errorMessage };
    t.acked = req.versionInfo;
    return { kind: 'ack', typeUrl: req.typeUrl, version: req.versionInfo };
  }

  /**
   * Whether `typeUrl` should be sent now, given the snapshot state. Unserved types (and MeshConfig) are answered once,
   * empty. Served kinds wait for a complete snapshot, for the previous response's ACK, and for a real change.
   */
  shouldSend(typeUrl: string, snap: Omit<SnapshotGate, 'version'> | undefined): boolean {
    const t = this.types.get(typeUrl);
    if (!t || t.awaitingAck) return false;
    if (!t.served) return t.lastNonce === undefined;
    if (!snap?.complete) return false;
    return t.sentChangedAt !== snap.changedAt(t.served);
  }

  /** Every response this stream is owed now, newest state only, in subscription order. */
  plan(snap: SnapshotGate | undefined): Send[] {
    const out: Send[] = [];
    const version = String(snap?.version ?? 0);
    for (const [typeUrl, t] of this.types) {
      if (!this.shouldSend(typeUrl, snap)) continue;
      const changedAt = t.served && snap ? snap.changedAt(t.served) : undefined;
      out.push({
        typeUrl,
        served: t.served,
        version,
        nonce: nonceOf(version, changedAt),
        changedAt,
        followUp: t.sentChangedAt !== undefined,
      });
    }
    return out;
  }

  /** Records a response about to be written; returns its nonce. */
  sent(typeUrl: string, version: string, changedAt: number | undefined): string {
    const t = this.types.get(typeUrl)!;
    const nonce = nonceOf(version, changedAt);
    t.lastNonce = nonce;
    t.lastVersion = version;
    t.awaitingAck = true;
    if (changedAt !== undefined) t.sentChangedAt = changedAt;
    return nonce;
  }
}
