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
  /** Kind version last sent (served kinds), to skip pushes that change nothing for this type. */
  sentChangedAt?: number;
}

export interface IncomingRequest { typeUrl: string; responseNonce: string; versionInfo: string; errorMessage?: string }

/**
 * The per-stream xDS state machine for istiod as an MCP client (docs/protocol.md):
 * - the first request of a type on a stream is a subscription whatever its nonce (istiod sends a made-up one);
 * - a request echoing the last nonce is an ACK (istiod never NACKs, but an error_detail is still recorded);
 * - any other nonce is stale and ignored.
 */
export class StreamState {
  readonly types = new Map<string, TypeState>();
  private nonceSeq = 0;

  constructor(readonly streamId: string) {}

  onRequest(req: IncomingRequest): RequestDecision {
    const t = this.types.get(req.typeUrl);
    if (!t) {
      this.types.set(req.typeUrl, { served: servedKindOf(req.typeUrl), awaitingAck: false });
      return { kind: 'subscribe', typeUrl: req.typeUrl };
    }
    if (req.responseNonce !== t.lastNonce) return { kind: 'stale', typeUrl: req.typeUrl, nonce: req.responseNonce };
    t.awaitingAck = false;
    if (req.errorMessage) return { kind: 'nack', typeUrl: req.typeUrl, version: req.versionInfo, message: req.errorMessage };
    t.acked = req.versionInfo;
    return { kind: 'ack', typeUrl: req.typeUrl, version: req.versionInfo };
  }

  /**
   * Whether `typeUrl` should be sent now, given the snapshot state. Unserved types (and MeshConfig) are answered once,
   * empty. Served kinds wait for a complete snapshot, for the previous response's ACK, and for a real change.
   */
  shouldSend(typeUrl: string, snap: { complete: boolean; changedAt(kind: ServedKind): number } | undefined): boolean {
    const t = this.types.get(typeUrl);
    if (!t || t.awaitingAck) return false;
    if (!t.served) return t.lastNonce === undefined;
    if (!snap?.complete) return false;
    return t.sentChangedAt !== snap.changedAt(t.served);
  }

  /**
   * Records a response about to be written; returns its nonce. A caller may pass a shared nonce (one per kind list,
   * so one message can be shared by every stream): it must differ from this type's previous nonce on the stream.
   */
  sent(typeUrl: string, version: string, changedAt: number | undefined, sharedNonce?: string): string {
    const t = this.types.get(typeUrl)!;
    const nonce = sharedNonce ?? `${this.streamId}-${++this.nonceSeq}`;
    t.lastNonce = nonce;
    t.lastVersion = version;
    t.awaitingAck = true;
    if (changedAt !== undefined) t.sentChangedAt = changedAt;
    return nonce;
  }

}
