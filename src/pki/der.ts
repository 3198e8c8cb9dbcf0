/**
 * A small DER writer and reader for the signing hot path. @peculiar/x509 goes through a general
 * ASN.1 object model (and re-parses what it encodes), which costs about 3 ms a certificate; the
 * structures issuance needs are few and fixed, so they are written and read here directly.
 */

export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  enumerated: 0x0a,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  sequence: 0x30,
  set: 0x31,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  universalString: 0x1c,
  bmpString: 0x1e,
} as const;

/** How many octets a definite length takes after the tag: one in short form, more in long form. */
function lengthSize(length: number): number {
  if (length < 0x80) return 1;
  let size = 1;
  for (let n = length; n > 0; n = Math.floor(n / 256)) size++;
  return size;
}

/** The size of a whole TLV with `size` octets of contents. */
function tlvSize(size: number): number {
  return 1 + lengthSize(size) + size;
}

/** Writes `tag` and the definite length `length` at `offset` in `out`; returns where the contents go. */
function writeHeader(out: Uint8Array, offset: number, tag: number, length: number): number {
  out[offset] = tag;
  const size = lengthSize(length);
  if (size === 1) {
    out[offset + 1] = length;
    return offset + 2;
  }
  out[offset + 1] = 0x80 | (size - 1);
  for (let i = size, n = length; i > 1; i--, n = Math.floor(n / 256)) out[offset + i] = n & 0xff;
  return offset + 1 + size;
}

/** One TLV: `tag`, then the length, then the contents. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  return tlvOf(tag, contents);
}

/** `tlv` with the contents as one array: `sequence` and `set` pass theirs on without spreading them again. */
function tlvOf(tag: number, contents: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of contents) size += part.length;
  const out = new Uint8Array(tlvSize(size));
  let offset = writeHeader(out, 0, tag, size);
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * A TLV not written yet: `encodeTree` sizes a whole tree of them first and writes it into one
 * array. V8 keeps a Uint8Array over 64 bytes outside its heap, and allocating one costs about ten
 * times a small one, so a large structure built level by level (`sequence(..., sequence(...))`)
 * pays that, and a copy, once per level; hot paths nest `TlvNode`s instead.
 */
export interface TlvNode {
  tag: number;
  parts: readonly (Uint8Array | TlvNode)[];
  /** The size of the contents, without tag and length. */
  contentSize: number;
}

export function tlvNode(tag: number, parts: readonly (Uint8Array | TlvNode)[]): TlvNode {
  let contentSize = 0;
  for (const part of parts) contentSize += part instanceof Uint8Array ? part.length : tlvSize(part.contentSize);
  return { tag, parts, contentSize };
}

/** Writes `node` at `offset` in `out`; returns the offset after it. */
function writeNode(out: Uint8Array, offset: number, node: TlvNode): number {
  let at = writeHeader(out, offset, node.tag, node.contentSize);
  for (const part of node.parts) {
    if (part instanceof Uint8Array) {
      out.set(part, at);
      at += part.length;
    } else {
      at = writeNode(out, at, part);
    }
  }
  return at;
}

/** The DER of a tree of TLVs, written into one array. */
export function encodeTree(root: TlvNode): Uint8Array {
  const out = new Uint8Array(tlvSize(root.contentSize));
  writeNode(out, 0, root);
  return out;
}

export const sequence = (...items: Uint8Array[]) => tlvOf(Tag.sequence, items);
export const set = (...items: Uint8Array[]) => tlvOf(Tag.set, items);
/** `[n]` EXPLICIT: a constructed context tag around one element. */
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
export const octetString = (bytes: Uint8Array) => tlv(Tag.octetString, bytes);
export const derNull = Uint8Array.of(Tag.null, 0);
export const derTrue = Uint8Array.of(Tag.boolean, 1, 0xff);

/** A non-negative INTEGER from its big-endian magnitude, in minimal form. */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  return body[0]! & 0x80 ? tlv(Tag.integer, Uint8Array.of(0), body) : tlv(Tag.integer, body);
}

export function smallInteger(value: number): Uint8Array {
  const bytes: number[] = [];
  let n = value;
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  return unsignedInteger(Uint8Array.from(bytes));
}

/** A non-negative INTEGER from a bigint (serials, CRL numbers), in minimal form. */
export function bigInteger(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError("bigInteger: negative values are not written here");
  const hex = value.toString(16);
  return unsignedInteger(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"));
}

/** An ENUMERATED (CRL reasons, OCSP response status): encoded as an INTEGER, with its own tag. */
export function enumerated(value: number): Uint8Array {
  return tlv(Tag.enumerated, smallInteger(value).subarray(2));
}

/** The value of an INTEGER's contents, read as two's complement. */
export function integerValue(value: Uint8Array): bigint {
  if (value.length === 0) throw new DerError("empty INTEGER");
  const magnitude = BigInt(`0x${Buffer.from(value).toString("hex")}`);
  return value[0]! & 0x80 ? magnitude - (1n << BigInt(value.length * 8)) : magnitude;
}

const oidCache = new Map<string, Uint8Array>();

/** An OBJECT IDENTIFIER from its dotted form; encodings are cached, since a few OIDs recur. */
export function oid(dotted: string): Uint8Array {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [];
  const push = (value: number) => {
    const chunk: number[] = [value & 0x7f];
    for (let n = Math.floor(value / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f));
    bytes.push(...chunk);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  const encoded = tlv(Tag.oid, Uint8Array.from(bytes));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** A BIT STRING holding whole bytes (keys, signatures). */
export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(Tag.bitString, Uint8Array.of(unusedBits), bytes);
}

export function stringOf(tag: number, value: string): Uint8Array {
  if (tag === Tag.bmpString) {
    const bytes = new Uint8Array(value.length * 2);
    for (let i = 0; i < value.length; i++) {
      bytes[2 * i] = value.charCodeAt(i) >> 8;
      bytes[2 * i + 1] = value.charCodeAt(i) & 0xff;
    }
    return tlv(tag, bytes);
  }
  if (tag === Tag.utf8String) return tlv(tag, Buffer.from(value, "utf8"));
  // Latin-1, written straight into the TLV: each character's low octet, as Buffer's "latin1" writes it.
  const out = new Uint8Array(tlvSize(value.length));
  const start = writeHeader(out, 0, tag, value.length);
  for (let i = 0; i < value.length; i++) out[start + i] = value.charCodeAt(i);
  return out;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always UTC, whole seconds. */
export function time(date: Date): Uint8Array {
  const y = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  return y < 2050 && y >= 1950 ? stringOf(Tag.utcTime, `${pad(y % 100)}${rest}`) : stringOf(Tag.generalizedTime, `${pad(y, 4)}${rest}`);
}

/** GeneralizedTime whatever the year, for formats that always use it (RFC 6960 OCSP); UTC, whole seconds. */
export function generalizedTime(date: Date): Uint8Array {
  const text = `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  return stringOf(Tag.generalizedTime, text);
}

export class DerError extends Error {
  override name = "DerError";
}

/** One element read from DER: its tag, where its contents are, and the whole encoding. */
export interface Element {
  tag: number;
  /** The contents (without tag and length). */
  value: Uint8Array;
  /** The whole TLV, as encoded. */
  raw: Uint8Array;
}

/**
 * An element as `readElement` reads it. Its two views onto the bytes are made on first use: most
 * elements are stepped over or only descended into, and making a subarray costs more than reading
 * the header.
 */
class ReadElement implements Element {
  #value: Uint8Array | undefined;
  #raw: Uint8Array | undefined;

  constructor(
    readonly tag: number,
    private readonly bytes: Uint8Array,
    private readonly start: number,
    private readonly contentStart: number,
    /** The offset just past the element in the bytes it was read from. */
    readonly end: number,
  ) {}

  get value(): Uint8Array {
    this.#value ??= this.bytes.subarray(this.contentStart, this.end);
    return this.#value;
  }

  get raw(): Uint8Array {
    this.#raw ??= this.bytes.subarray(this.start, this.end);
    return this.#raw;
  }
}

/** Reads the element at `offset`, refusing indefinite or overlong lengths and overruns. */
export function readElement(bytes: Uint8Array, offset = 0): ReadElement {
  if (offset + 2 > bytes.length) throw new DerError("truncated element");
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not supported");
  let length = bytes[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError("unsupported length");
    if (offset + 2 + count > bytes.length) throw new DerError("truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + 2 + i]!;
    if (length < 0x80 || (count > 1 && bytes[offset + 2] === 0)) throw new DerError("length not in minimal form");
    header += count;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new DerError("element overruns its container");
  return new ReadElement(tag, bytes, offset, offset + header, end);
}

/** The elements inside a constructed element's contents, in order. */
export function children(value: Uint8Array): Element[] {
  const out: Element[] = [];
  for (let offset = 0; offset < value.length; ) {
    const element = readElement(value, offset);
    out.push(element);
    offset = element.end;
  }
  return out;
}

/** Reads exactly one element that spans all of `bytes`, of the expected tag. */
export function readWhole(bytes: Uint8Array, tag: number): Element {
  const element = readElement(bytes, 0);
  if (element.end !== bytes.length) throw new DerError("trailing bytes after the element");
  if (element.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, got 0x${element.tag.toString(16)}`);
  return element;
}

export function expectTag(element: Element | undefined, tag: number, what: string): Element {
  if (!element || element.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}`);
  return element;
}

/** The dotted form of an OBJECT IDENTIFIER's contents. */
export function oidToString(value: Uint8Array): string {
  if (value.length === 0) throw new DerError("empty OID");
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    n = n * 128 + (value[i]! & 0x7f);
    if (!(value[i]! & 0x80)) {
      if (arcs.length === 0) arcs.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
      else arcs.push(n);
      n = 0;
    } else if (i === value.length - 1) {
      throw new DerError("truncated OID");
    }
  }
  return arcs.join(".");
}

// Shared: decode() without { stream: true } keeps no state between calls.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** Decodes a directory string (UTF8, Printable, IA5, Teletex as Latin-1, BMP, Universal). */
export function decodeString(element: Element): string {
  const { tag, value } = element;
  switch (tag) {
    case Tag.utf8String:
      return utf8Decoder.decode(value);
    case Tag.printableString:
    case Tag.ia5String:
    case Tag.teletexString:
      return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("latin1");
    case Tag.bmpString: {
      if (value.length % 2) throw new DerError("odd BMPString");
      let s = "";
      for (let i = 0; i < value.length; i += 2) s += String.fromCharCode((value[i]! << 8) | value[i + 1]!);
      return s;
    }
    case Tag.universalString: {
      if (value.length % 4) throw new DerError("bad UniversalString");
      let s = "";
      for (let i = 0; i < value.length; i += 4) s += String.fromCodePoint(Buffer.from(value.subarray(i, i + 4)).readUInt32BE(0));
      return s;
    }
    default:
      throw new DerError(`not a string type: 0x${tag.toString(16)}`);
  }
}
