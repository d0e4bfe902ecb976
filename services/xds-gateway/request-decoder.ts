/**
 * DiscoveryRequest decoded by hand: only the fields the gateway reads (envoy discovery.proto: version_info=1, node=2,
 * type_url=4, response_nonce=5, error_detail=6; Node: id=1, metadata=3 as google.protobuf.Struct; Status: code=1,
 * message=2). Everything else is skipped. This keeps protobufjs and the parsed .proto schemas out of the gateway
 * process (~70 ms of start-up and ~11 MiB resident), for a message whose few fields are stable.
 */
export interface DiscoveryRequestFields {
  versionInfo: string;
  typeUrl: string;
  responseNonce: string;
  /** Present when the request carries a node (istiod sends it on the first request of a stream). */
  node?: { id: string; metadata: Record<string, string> };
  errorDetail?: { code: number; message: string };
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  varint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('DiscoveryRequest: truncated varint');
      const b = this.buf[this.pos++]!;
      if (i < 5) n += (b & 0x7f) * mul; // low 35 bits are enough for lengths, tags and int32 values
      mul *= 128;
      if (b < 0x80) return n;
    }
    throw new Error('DiscoveryRequest: varint longer than 10 bytes');
  }

  /** The bounds of a length-delimited field's bytes. */
  bytes(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new Error('DiscoveryRequest: field longer than its message');
    this.pos += len;
    return [start, start + len];
  }

  string(): string {
    const [s, e] = this.bytes();
    return this.buf.toString('utf8', s, e);
  }

  sub(): Reader {
    const [s, e] = this.bytes();
    return new Reader(this.buf, s, e);
  }

  skipField(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`DiscoveryRequest: unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new Error('DiscoveryRequest: truncated field');
  }

  /** Calls `field` for each field number (with its wire type) until the end of this message. */
  each(field: (no: number, wireType: number) => boolean): void {
    while (this.pos < this.end) {
      const tag = this.varint();
      const wt = tag & 7;
      if (!field(Math.floor(tag / 8), wt)) this.skipField(wt);
    }
  }
}

/** google.protobuf.Value: only string_value (3) matters here. */
function stringValue(r: Reader): string | undefined {
  let out: string | undefined;
  r.each((no, wt) => {
    if (no !== 3 || wt !== 2) return false;
    out = r.string();
    return true;
  });
  return out;
}

function node(r: Reader): { id: string; metadata: Record<string, string> } {
  const out = { id: '', metadata: {} as Record<string, string> };
  r.each((no, wt) => {
    if (wt !== 2) return false;
    if (no === 1) out.id = r.string();
    else if (no === 3) {
      // Struct.fields (1): map entries {key = 1, value = 2}.
      const struct = r.sub();
      struct.each((fno, fwt) => {
        if (fno !== 1 || fwt !== 2) return false;
        const entry = struct.sub();
        let key = '';
        let value: string | undefined;
        entry.each((eno, ewt) => {
          if (ewt !== 2) return false;
          if (eno === 1) key = entry.string();
          else if (eno === 2) value = stringValue(entry.sub());
          else return false;
          return true;
        });
        // An own property whatever the key: assignment would treat a key "__proto__" (istiod's metadata is anyone's
        // input on the wire) as the object's prototype instead of a value.
        if (value !== undefined)
          Object.defineProperty(out.metadata, key, { value, enumerable: true, writable: true, configurable: true });
        return true;
      });
    } else return false;
    return true;
  });
  return out;
}

function status(r: Reader): { code: number; message: string } {
  const out = { code: 0, message: '' };
  r.each((no, wt) => {
    if (no === 1 && wt === 0) out.code = r.varint() | 0;
    else if (no === 2 && wt === 2) out.message = r.string();
    else return false;
    return true;
  });
  return out;
}

export function decodeDiscoveryRequest(buf: Buffer): DiscoveryRequestFields {
  const out: DiscoveryRequestFields = { versionInfo: '', typeUrl: '', responseNonce: '' };
  const r = new Reader(buf);
  r.each((no, wt) => {
    if (wt !== 2) return false;
    if (no === 1) out.versionInfo = r.string();
    else if (no === 2) out.node = node(r.sub());
    else if (no === 4) out.typeUrl = r.string();
    else if (no === 5) out.responseNonce = r.string();
    else if (no === 6) out.errorDetail = status(r.sub());
    else return false;
    return true;
  });
  return out;
}
