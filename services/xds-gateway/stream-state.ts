import { MESH_CONFIG_TYPE, servedKindOf, type ServedKind } from '../../schemas/type-urls.ts';

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
  /** An empty MeshConfig answer that only fills istiod's response buffer (see StreamState.padTo). */
  padding?: true;
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
  /** Responses written on this stream, padding included. */
  private written = 0;

  /**
   * `padTo`: istiod's config-source client (pkg/adsc) copies every response it receives into a buffered channel of
   * 100 that nothing in istiod reads, so the first 100 responses of each config source stay in its heap for the life
   * of the process: 100 × every shard's collection, 1 GB at 10,000 services and 5 GB at 50,000. Right after its
   * MeshConfig answer the stream gets empty MeshConfig answers until `padTo` responses were written: they fill that
   * channel with ~60-byte messages, and every ServiceEntry response after them is garbage once applied. They change
   * nothing in istiod (a MeshConfig response without resources sets no mesh config and no store). 0 turns it off.
   */
  constructor(
    readonly streamId: string,
    private readonly padTo = 0,
  ) {}

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
    return [...out, ...this.padding(out, version)];
  }

  /** The empty MeshConfig answers still owed after `planned` (see padTo): once MeshConfig got its own answer. */
  private padding(planned: readonly Send[], version: string): Send[] {
    const mesh = this.types.get(MESH_CONFIG_TYPE);
    const answered = mesh?.lastNonce !== undefined || planned.some((p) => p.typeUrl === MESH_CONFIG_TYPE);
    const owed = this.padTo - this.written - planned.length;
    if (!answered || owed <= 0) return [];
    const first = this.written + planned.length;
    return Array.from({ length: owed }, (_, i) => ({
      typeUrl: MESH_CONFIG_TYPE,
      served: undefined,
      version,
      // Unique on the stream: only the last one's ACK is then an ACK, the others are stale (and ignored).
      nonce: `${version}.pad${first + i}`,
      changedAt: undefined,
      followUp: true,
      padding: true as const,
    }));
  }

  /** Records a response about to be written. */
  sent(send: Pick<Send, 'typeUrl' | 'version' | 'nonce' | 'changedAt'>): void {
    const t = this.types.get(send.typeUrl)!;
    t.lastNonce = send.nonce;
    t.lastVersion = send.version;
    t.awaitingAck = true;
    this.written++;
    if (send.changedAt !== undefined) t.sentChangedAt = send.changedAt;
  }
}
