// Just enough DER to read what the console shows and the service publishes: a certificate's key and
// usages, a CRL's number and dates, an OCSP answer's status; and to write one OCSP request.

/** One TLV: its tag, its contents, and the whole encoding (for hashing a field as it was signed). */
export function read(bytes, offset = 0) {
  const tag = bytes[offset];
  let length = bytes[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const size = length & 0x7f;
    length = 0;
    for (let i = 0; i < size; i++) length = length * 256 + bytes[start + i];
    start += size;
  }
  if (tag === undefined || start + length > bytes.length) throw new Error("not DER");
  return { tag, value: bytes.subarray(start, start + length), whole: bytes.subarray(offset, start + length), end: start + length };
}

export function children(value) {
  const items = [];
  for (let offset = 0; offset < value.length; ) {
    const item = read(value, offset);
    items.push(item);
    offset = item.end;
  }
  return items;
}

export function oid(value) {
  const parts = [Math.floor(value[0] / 40), value[0] % 40];
  let n = 0;
  for (const byte of value.subarray(1)) {
    n = n * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(n);
      n = 0;
    }
  }
  return parts.join(".");
}

export function integer(value) {
  return value.reduce((n, byte) => n * 256n + BigInt(byte), 0n);
}

/** UTCTime (tag 0x17) or GeneralizedTime (0x18), as a Date. */
export function time(element) {
  const text = new TextDecoder().decode(element.value);
  const full = element.tag === 0x17 ? `${Number(text.slice(0, 2)) < 50 ? "20" : "19"}${text}` : text;
  const [, y, mo, d, h, mi, s] = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)/.exec(full);
  return new Date(Date.UTC(+y, mo - 1, +d, +h, +mi, +s));
}

export function tlv(tag, ...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const length = size < 0x80 ? [size] : size < 0x100 ? [0x81, size] : [0x82, size >> 8, size & 0xff];
  const out = new Uint8Array(1 + length.length + size);
  out.set([tag, ...length]);
  let offset = 1 + length.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function fromPem(pem) {
  const base64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
