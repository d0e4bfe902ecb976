import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  encodeFramedResponse,
  encodeFramedResponseViews,
  encodeResponseBody,
} from '../../services/xds-gateway/response-encoder.ts';
import { LoadGarbage } from '../../services/xds-gateway/load-garbage.ts';
import { fullSnapshot, shareItemBytes } from '../../services/xds-gateway/snapshot.ts';
import { installFramedWrites, unframe } from '../../services/xds-gateway/framed-write.ts';
import { serviceEntry } from '../../harness/snapshot-writer.ts';

const SE = 'networking.istio.io/v1/ServiceEntry';
const PATH = '/test.Framed/Stream';
const identity = (b: Buffer) => b;
const def: grpc.ServiceDefinition = {
  Stream: {
    path: PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

describe('gateway pre-framed writes', () => {
  it('frames the same DiscoveryResponse bytes behind a gRPC prefix (uncompressed, big-endian length)', () => {
    const items = [serviceEntry({ namespace: 'a', host: 'x.a', endpoints: 3 })[1]];
    const body = encodeResponseBody('7', SE, items, 'n-1');
    const framed = encodeFramedResponse('7', SE, items, 'n-1');
    assert.equal(framed[0], 0);
    assert.equal(framed.readUInt32BE(1), body.length);
    assert.deepEqual(unframe(framed), body);
    assert.deepEqual(unframe(body), body, 'a buffer not made by frame() is left alone');
  });

  it('gives each resource as a view into the message, so a list can hold its bytes once', () => {
    const entries = [0, 1, 2].map((i) => serviceEntry({ namespace: 'a', host: `h${i}.a`, endpoints: 2 + i }));
    const snap = fullSnapshot(3, 'l', true, new Map(entries));
    const list = snap.kinds.ServiceEntry[0]!;
    const before = list.items.map((b) => Buffer.from(b));
    const { msg, views } = encodeFramedResponseViews('3', SE, list.items, 'n-3');
    assert.deepEqual(msg, encodeFramedResponse('3', SE, list.items, 'n-3'), 'the same message as without views');
    shareItemBytes(list, views);
    assert.deepEqual(list.items, before, 'same bytes, in the same order');
    for (const item of list.items) assert.equal(item.buffer, msg.buffer, 'held by the message, not a copy');
    // A message built again from the shared items is identical (the list's value did not change).
    assert.deepEqual(encodeFramedResponse('3', SE, list.items, 'n-3'), msg);
    shareItemBytes(list, views.slice(1));
    assert.equal(list.items.length, 3, 'views that do not match the list are ignored');
  });

  it('grpc-js writes one framed buffer to several streams as is; other writes keep their own framing', async () => {
    installFramedWrites();
    installFramedWrites(); // idempotent
    const items = [serviceEntry({ namespace: 'a', host: 'y.a', endpoints: 50 })[1]];
    const framed = encodeFramedResponse('9', SE, items, 'n-2');
    const plain = Buffer.from('not framed');
    const server = new grpc.Server();
    server.addService(def, {
      Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.write(framed);
        call.write(plain);
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const read = () =>
        new Promise<Buffer[]>((resolve, reject) => {
          const got: Buffer[] = [];
          const call = client.makeBidiStreamRequest(PATH, identity, identity);
          call.on('data', (b: Buffer) => got.push(b));
          call.on('error', reject);
          call.on('end', () => resolve(got));
          call.end();
        });
      const [a, b] = await Promise.all([read(), read()]);
      for (const got of [a, b]) assert.deepEqual(got, [unframe(framed), plain]);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe('gateway load garbage', () => {
  it('collects once after a full load is first served, not again for the same lists', async () => {
    let runs = 0;
    const g = new LoadGarbage(() => runs++, 5);
    const a = {};
    const b = {};
    g.served(a);
    g.served(b); // the same tick: one collection for both
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(runs, 1);
    g.served(a); // served again (another istiod): its load buffers are long gone
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(runs, 1);
    g.served({}); // a later full load
    g.stop(); // shutting down: nothing runs after stop
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(runs, 1);
  });

  it('does nothing without a collector (node started without --expose-gc)', () => {
    const g = new LoadGarbage(undefined, 5);
    g.served({});
    g.stop();
  });
});
