import { createHash } from "node:crypto";

/** The DER bytes of the first PEM block whose label is one of `labels`, or undefined. */
export function decodePemBlock(text: string, labels: readonly string[]): Uint8Array<ArrayBuffer> | undefined {
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  // An exec loop rather than matchAll, which clones the pattern on every call.
  for (;;) {
    const match = pattern.exec(text);
    if (match === null) return undefined;
    if (labels.includes(match[1]!)) {
      const body = match[2]!.replace(/\s+/g, "");
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) return undefined;
      return new Uint8Array(Buffer.from(body, "base64"));
    }
  }
}

export function encodePem(label: string, der: ArrayBuffer | Uint8Array): string {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  // A view, not Buffer.from(bytes), which would copy the DER first.
  const base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** cfssl's `sums` entry: MD5 and SHA-1 of the DER, upper-case hex. */
export interface Sum {
  md5: string;
  "sha-1": string;
  "sha-256": string;
}

export function sumOf(der: ArrayBuffer | Uint8Array): Sum {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  return {
    md5: createHash("md5").update(bytes).digest("hex").toUpperCase(),
    "sha-1": createHash("sha1").update(bytes).digest("hex").toUpperCase(),
    "sha-256": createHash("sha256").update(bytes).digest("hex").toUpperCase(),
  };
}

/** Key ids as openssl and cfssl's certinfo print them: upper-case hex pairs joined by colons. */
export function formatKeyId(id: ArrayBuffer | Uint8Array): string {
  const bytes = Buffer.from(id instanceof Uint8Array ? id : new Uint8Array(id));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}
