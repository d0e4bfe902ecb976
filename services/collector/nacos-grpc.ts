import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/**
 * A minimal client of Nacos's gRPC API (Nacos 2.x/3.x; docs/collectors.md, "Nacos"). Nacos defines one generic
 * message, `Payload { Metadata metadata = 2; google.protobuf.Any body = 3; }` with `Metadata { string type = 3;
 * string clientIp = 8; map<string,string> headers = 7; }`, on two services: unary `/Request/request` and the
 * bidirectional `/BiRequestStream/requestBiStream`. `metadata.type` names the Java request/response class
 * (ServiceListRequest, NotifySubscriberRequest, ...) and `body.value` is that object as JSON.
 *
 * A connection: ServerCheckRequest (unary; returns the connection id), then the bi-stream is opened and carries a
 * ConnectionSetupRequest; from then on the server knows this HTTP/2 connection and accepts unary requests on it,
 * and pushes its own requests (NotifySubscriberRequest, ClientDetectionRequest, ...) on the stream, each of which
 * is answered on the stream with the matching Response and its requestId. No npm client speaks this protocol (the
 * `nacos` package is HTTP only), hence this one.
 */
const root = protobuf.Root.fromJSON({
  nested: {
    Metadata: {
      fields: {
        type: { type: 'string', id: 3 },
        clientIp: { type: 'string', id: 8 },
        headers: { keyType: 'string', type: 'string', id: 7 },
      },
    },
    Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
    Payload: { fields: { metadata: { type: 'Metadata', id: 2 }, body: { type: 'Any', id: 3 } } },
  },
  // protobufjs's JSON form of a map field (keyType) is missing from its IField type.
} as protobuf.INamespace);
const PayloadType = root.lookupType('Payload');

export interface NacosMessage {
  type: string;
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

export function encodePayload(type: string, body: unknown, headers: Record<string, string> = {}): Buffer {
  const msg = PayloadType.create({
    metadata: { type, clientIp: '', headers },
    body: { value: Buffer.from(JSON.stringify(body)) },
  });
  return Buffer.from(PayloadType.encode(msg).finish());
}

export function decodePayload(buf: Buffer): NacosMessage {
  const m = PayloadType.toObject(PayloadType.decode(buf), { bytes: Buffer, defaults: true }) as {
    metadata?: { type?: string; headers?: Record<string, string> };
    body?: { value?: Buffer };
  };
  const text = m.body?.value?.toString('utf8') ?? '';
  let body: unknown = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { unparsable: text.slice(0, 256) };
  }
  return {
    type: m.metadata?.type ?? '',
    body: (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>,
    headers: m.metadata?.headers ?? {},
  };
}

/** A Nacos response whose resultCode is not 200, with Nacos's own errorCode and message. */
export class NacosError extends Error {
  constructor(
    readonly type: string,
    readonly errorCode: number,
    message: string,
  ) {
    super(`Nacos ${type}: error ${errorCode}: ${message}`);
  }
}

const identity = (b: Buffer) => b;
let requestSeq = 0;

export interface NacosConnectionOptions {
  /** host:port of the server's gRPC SDK port (the HTTP port + 1000 by default). */
  target: string;
  /** Sent as ConnectionSetupRequest.tenant (the namespace the client works in). */
  tenant?: string;
  /** Current access token (auth on), added to every request's headers. */
  token?: () => string | undefined;
  /** Interval of the client's own health checks (an idle connection is otherwise closed by the server). */
  healthCheckMs?: number;
  requestTimeoutMs?: number;
  /** ClientVersion reported to the server (it shows in Nacos's connection list). */
  clientVersion?: string;
}

/**
 * One connection to a Nacos server. Emits 'request' (NacosMessage) for each server push — already acknowledged —
 * and 'closed' (Error) once when the stream or a health check fails; a closed connection is not reused.
 */
export class NacosConnection extends EventEmitter {
  private readonly client: grpc.Client;
  private stream: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private closed = false;
  connectionId = '';

  constructor(private readonly opts: NacosConnectionOptions) {
    super();
    this.client = new grpc.Client(opts.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
      // One HTTP/2 connection per client: Nacos ties unary requests to the connection its bi-stream set up.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  /** Server check, bi-stream, connection setup; resolves once the server accepts requests on this connection. */
  async open(): Promise<void> {
    const check = await this.request('ServerCheckRequest', {});
    this.connectionId = String(check.connectionId ?? '');
    const negotiates = check.supportAbilityNegotiation === true;
    const stream = this.client.makeBidiStreamRequest('/BiRequestStream/requestBiStream', identity, identity);
    this.stream = stream;
    let setupAck: (() => void) | undefined;
    const acked = new Promise<void>((resolve) => {
      setupAck = resolve;
    });
    stream.on('data', (buf: Buffer) => {
      let msg: NacosMessage;
      try {
        msg = decodePayload(buf);
      } catch (e) {
        this.close(new Error(`undecodable push: ${(e as Error).message}`));
        return;
      }
      if (!msg.type.endsWith('Request')) return; // a response to something sent on the stream
      // Acknowledge first (the server retries unacknowledged pushes), then hand it on.
      const reply = msg.type.replace(/Request$/, 'Response');
      stream.write(
        encodePayload(reply, {
          resultCode: 200,
          errorCode: 0,
          requestId: msg.body.requestId ?? msg.headers.requestId ?? '',
        }),
      );
      if (msg.type === 'SetupAckRequest') setupAck?.();
      else if (msg.type === 'ConnectResetRequest')
        this.close(new Error('the server asked this client to reconnect (ConnectResetRequest)'));
      else if (msg.type !== 'ClientDetectionRequest') this.emit('request', msg);
    });
    stream.on('error', (e: Error) => this.close(e));
    stream.on('end', () => this.close(new Error('the server ended the stream')));
    stream.write(
      encodePayload('ConnectionSetupRequest', {
        clientVersion: this.opts.clientVersion ?? 'meshbridge-nacos:v1',
        tenant: this.opts.tenant ?? '',
        labels: { source: 'sdk', module: 'naming' },
        abilityTable: {},
        headers: {},
        requestId: '',
      }),
    );
    // A server that negotiates abilities answers the setup with SetupAckRequest; older ones register it silently.
    await (negotiates ? Promise.race([acked, sleep(3000)]) : sleep(100));
    await this.untilRegistered();
    const every = this.opts.healthCheckMs ?? 5000;
    this.healthTimer = setInterval(() => {
      this.request('HealthCheckRequest', {}).catch((e) =>
        this.close(new Error(`health check failed: ${(e as Error).message}`)),
      );
    }, every);
    this.healthTimer.unref();
  }

  /** The setup is handled asynchronously by the server: retry a cheap request until the connection is known. */
  private async untilRegistered(): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await this.request('HealthCheckRequest', {});
        return;
      } catch (e) {
        if (this.closed || i >= 50) throw e;
        await sleep(100);
      }
    }
  }

  /** One unary request; resolves with the response body, rejects on a transport error or a non-200 result. */
  request(type: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('Nacos connection closed'));
    const token = this.opts.token?.();
    const headers: Record<string, string> = token ? { accessToken: token } : {};
    const payload = encodePayload(type, { headers: {}, requestId: String(++requestSeq), ...body }, headers);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        '/Request/request',
        identity,
        identity,
        payload,
        new grpc.Metadata(),
        { deadline: Date.now() + (this.opts.requestTimeoutMs ?? 10_000) },
        (err, res) => {
          if (err || !res) {
            reject(err ?? new Error(`Nacos ${type}: empty response`));
            return;
          }
          const msg = decodePayload(res);
          if (
            msg.type === 'ErrorResponse' ||
            (typeof msg.body.resultCode === 'number' && msg.body.resultCode !== 200)
          ) {
            reject(new NacosError(type, Number(msg.body.errorCode ?? 0), String(msg.body.message ?? msg.type)));
            return;
          }
          resolve(msg.body);
        },
      );
    });
  }

  close(reason: Error = new Error('closed by the client')): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    try {
      this.stream?.cancel();
    } catch {
      /* already gone */
    }
    this.client.close();
    this.emit('closed', reason);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
