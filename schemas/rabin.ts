/**
 * CRC-64-AVRO ("Rabin") fingerprint of a schema's parsing canonical form, as the Avro specification defines it for
 * single-object encoding. avsc fingerprints with crypto hashes only, so this small spec algorithm lives here.
 */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK = (1n << 64n) - 1n;

const TABLE: bigint[] = (() => {
  const t: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
    t.push(fp & MASK);
  }
  return t;
})();

export function rabinFingerprint(bytes: Uint8Array): Buffer {
  let fp = EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!;
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp & MASK); // the spec stores the fingerprint little-endian
  return out;
}
