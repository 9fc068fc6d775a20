// A small CBOR (RFC 8949) decoder, enough to show a record's fields: unsigned and
// negative integers, byte and text strings, arrays, maps, false/true/null. It reads
// definite lengths only (records are deterministic CBOR, RFC 8949 §4.2.1) and refuses
// what it does not know rather than guessing. Integers beyond 2^53 come back as BigInt.

export class CborError extends Error {}

const MAX_DEPTH = 16;

/** Decodes one data item filling all of `bytes`. Maps come back as arrays of [key, value]. */
export function decodeCbor(bytes) {
  const r = { bytes, at: 0, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  const value = item(r, 0);
  if (r.at !== bytes.length) throw new CborError(`${bytes.length - r.at} bytes after the data item`);
  return value;
}

function need(r, n) {
  if (r.at + n > r.bytes.length) throw new CborError("truncated");
}

function argument(r, info) {
  if (info < 24) return info;
  const width = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
  if (!width) throw new CborError(`unsupported additional information ${info} (indefinite lengths are not used)`);
  need(r, width);
  let v;
  if (width === 1) v = r.view.getUint8(r.at);
  else if (width === 2) v = r.view.getUint16(r.at);
  else if (width === 4) v = r.view.getUint32(r.at);
  else {
    v = r.view.getBigUint64(r.at);
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) v = Number(v);
  }
  r.at += width;
  return v;
}

function length(r, info) {
  const n = argument(r, info);
  if (typeof n !== "number" || n > r.bytes.length - r.at) throw new CborError("a length runs past the end of the input");
  return n;
}

function item(r, depth) {
  if (depth > MAX_DEPTH) throw new CborError("nested too deep");
  need(r, 1);
  const head = r.bytes[r.at++];
  const major = head >> 5;
  const info = head & 31;
  switch (major) {
    case 0:
      return argument(r, info);
    case 1: {
      const n = argument(r, info);
      return typeof n === "bigint" ? -1n - n : -1 - n;
    }
    case 2: {
      const n = length(r, info);
      const out = r.bytes.slice(r.at, r.at + n);
      r.at += n;
      return out;
    }
    case 3: {
      const n = length(r, info);
      const text = new TextDecoder("utf-8", { fatal: true }).decode(r.bytes.subarray(r.at, r.at + n));
      r.at += n;
      return text;
    }
    case 4: {
      const n = length(r, info);
      return Array.from({ length: n }, () => item(r, depth + 1));
    }
    case 5: {
      const n = length(r, info);
      const entries = Array.from({ length: n }, () => [item(r, depth + 1), item(r, depth + 1)]);
      return new CborMap(entries);
    }
    case 7:
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      throw new CborError(`unsupported simple value or float (${info})`);
    default:
      throw new CborError(`unsupported major type ${major} (tags are not used)`);
  }
}

/** A decoded map: its entries in encoded order, with lookup by (integer) key. */
export class CborMap {
  constructor(entries) {
    this.entries = entries;
  }
  get(key) {
    const e = this.entries.find(([k]) => k === key);
    return e ? e[1] : undefined;
  }
}
