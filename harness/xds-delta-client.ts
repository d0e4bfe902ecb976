import * as grpc from '@grpc/grpc-js';
import { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../schemas/proto.ts';

const DELTA_ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

export interface DeltaResponse {
  typeUrl: string;
  nonce: string;
  /** Added or changed resources: name and the Any's value. */
  resources: { name: string; value: Uint8Array }[];
  removed: string[];
}

interface RawDeltaResponse {
  type_url: string;
  nonce: string;
  resources: { name: string; resource?: { value: Uint8Array } }[];
  removed_resources: string[];
}

/**
 * A minimal incremental (delta) ADS client: the protocol istiod's sidecars speak by default (ISTIO_DELTA_XDS), so a
 * benchmark's sidecar costs istiod what a real one does — an ACK carries a nonce, not every subscribed name again.
 */
export class DeltaXdsClient {
  private readonly client: grpc.Client;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private nodeSent = false;
  closedWith: Error | undefined;

  /** Called with every response and its arrival time (Date.now()); set it before open(). */
  onResponse: ((r: DeltaResponse, arrivedAt: number) => void) | undefined;

  constructor(
    address: string,
    private readonly node: { id: string; metadata?: Record<string, string> },
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
  }

  open(): this {
    this.call = this.client.makeBidiStreamRequest(
      DELTA_ADS,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    this.call.on('data', (b: Buffer) => {
      const arrivedAt = Date.now();
      const r = DeltaDiscoveryResponse.toObject(DeltaDiscoveryResponse.decode(b), {
        defaults: true,
      }) as RawDeltaResponse;
      this.onResponse?.(
        {
          typeUrl: r.type_url,
          nonce: r.nonce,
          resources: r.resources.map((x) => ({ name: x.name, value: x.resource?.value ?? new Uint8Array() })),
          removed: r.removed_resources,
        },
        arrivedAt,
      );
    });
    this.call.on('error', (e) => {
      this.closedWith = e;
    });
    return this;
  }

  /** Subscribes (or, for a wildcard type such as CDS, starts the wildcard watch with no names). */
  subscribe(typeUrl: string, names: readonly string[] = [], unsubscribe: readonly string[] = []): void {
    this.write({ type_url: typeUrl, resource_names_subscribe: names, resource_names_unsubscribe: unsubscribe });
  }

  ack(r: DeltaResponse): void {
    this.write({ type_url: r.typeUrl, response_nonce: r.nonce });
  }

  private write(fields: Record<string, unknown>): void {
    const node = this.nodeSent
      ? {}
      : {
          node: {
            id: this.node.id,
            metadata: {
              fields: Object.fromEntries(
                Object.entries(this.node.metadata ?? {}).map(([k, v]) => [k, { stringValue: v }]),
              ),
            },
          },
        };
    this.nodeSent = true;
    this.call!.write(
      Buffer.from(DeltaDiscoveryRequest.encode(DeltaDiscoveryRequest.fromObject({ ...node, ...fields })).finish()),
    );
  }

  close(): void {
    this.call?.cancel();
    this.client.close();
  }
}
