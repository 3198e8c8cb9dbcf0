// The DER writer and reader and the PEM codec at their edges: lengths around each long-form
// boundary, a TLV tree written in one go against the same structure built level by level, element
// views read lazily, and PEM blocks found, refused and wrapped as before.
import t from "tap";
import { children, encodeTree, readElement, readWhole, sequence, stringOf, Tag, tlv, tlvNode } from "../../src/pki/der.js";
import { decodePemBlock, encodePem } from "../../src/pki/pem.js";

/** A definite length as X.690 8.1.3 spells it, the plain way. */
function referenceLength(length: number): number[] {
  if (length < 0x80) return [length];
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  return [0x80 | octets.length, ...octets];
}

const boundaries = [0, 1, 0x7f, 0x80, 0x81, 0xff, 0x100, 0x101, 0xffff, 0x10000, 0x10001];

t.test("tlv writes the tag, the minimal length and the contents", async (t) => {
  for (const size of boundaries) {
    const contents = new Uint8Array(size).map((_, i) => i % 251);
    const encoded = tlv(0x04, contents.subarray(0, size >> 1), contents.subarray(size >> 1));
    const header = [0x04, ...referenceLength(size)];
    t.same([...encoded.subarray(0, header.length)], header, `header for ${size} octets`);
    t.equal(encoded.length, header.length + size);
    t.same(encoded.subarray(header.length), contents, `contents for ${size} octets`);
  }
});

t.test("a TLV tree encodes to the same bytes as nested sequence() calls", async (t) => {
  for (const size of boundaries.slice(0, 9)) {
    const leaf = new Uint8Array(size).fill(0x5a);
    const small = Uint8Array.of(0x05, 0x00);
    const nested = sequence(small, tlv(0xa3, sequence(leaf, small)), sequence(), leaf);
    const tree = encodeTree(tlvNode(Tag.sequence, [small, tlvNode(0xa3, [tlvNode(Tag.sequence, [leaf, small])]), tlvNode(Tag.sequence, []), leaf]));
    t.same(tree, nested, `with a ${size}-octet leaf`);
  }
});

t.test("stringOf writes Latin-1 strings one octet a character, as Buffer's latin1 does", async (t) => {
  for (const value of ["", "host.example", "é ÿ", "Ł€中", "x".repeat(200)]) {
    t.same(stringOf(Tag.printableString, value), tlv(Tag.printableString, Buffer.from(value, "latin1")), JSON.stringify(value.slice(0, 20)));
  }
});

t.test("elements read lazily keep the same views and step over each other", async (t) => {
  const inner = [tlv(0x02, Uint8Array.of(1)), tlv(0x04, new Uint8Array(300)), sequence()];
  const outer = sequence(...inner);
  const element = readElement(outer);
  t.equal(element.value, element.value, "value is one view, made once");
  t.equal(element.raw, element.raw, "raw is one view, made once");
  t.same(element.raw, outer);
  t.same(children(element.value).map((child) => child.raw), inner);
  t.same(children(element.value).map((child) => child.tag), [0x02, 0x04, 0x30]);
  t.throws(() => readWhole(Uint8Array.of(...outer, 0), Tag.sequence), /trailing bytes/);
  t.throws(() => readWhole(outer.subarray(0, outer.length - 1), Tag.sequence), /overruns/);
});

t.test("encodePem wraps base64 at 64 columns, an empty DER included", async (t) => {
  t.equal(encodePem("X", new Uint8Array(0)), "-----BEGIN X-----\n\n-----END X-----\n");
  for (const size of [1, 47, 48, 49, 96, 300]) {
    const der = new Uint8Array(size).map((_, i) => i);
    const base64 = Buffer.from(der).toString("base64");
    const lines = base64.match(/.{1,64}/g)!;
    t.equal(encodePem("CERTIFICATE", der), `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`, `${size} octets`);
    t.equal(encodePem("CERTIFICATE", der.buffer), encodePem("CERTIFICATE", der), "an ArrayBuffer reads the same");
    const view = new Uint8Array(size + 8).fill(0xee);
    view.set(der, 4);
    t.equal(encodePem("CERTIFICATE", view.subarray(4, 4 + size)), encodePem("CERTIFICATE", der), "a view encodes only its own bytes");
  }
});

t.test("decodePemBlock finds the first block with a wanted label, and refuses bad base64", async (t) => {
  const block = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
  const want = ["CERTIFICATE REQUEST"];
  const decode = (text: string) => {
    const der = decodePemBlock(text, want);
    return der === undefined ? undefined : Buffer.from(der).toString("hex");
  };
  t.equal(decode(block("CERTIFICATE REQUEST", "AQID")), "010203");
  t.equal(decode(`junk\n${block("CERTIFICATE", "BBBB")}${block("CERTIFICATE REQUEST", "AQ\r\nID")}`), "010203", "skips other labels; CRLF is whitespace");
  t.equal(decode(block("CERTIFICATE REQUEST", "AQ==")), "01", "padding");
  t.equal(decode(`-----BEGIN FOO-----\nBBBB\n${block("CERTIFICATE REQUEST", "AQID")}`), "010203", "a BEGIN without its END is passed over");
  t.equal(decode(block("FOO", block("CERTIFICATE REQUEST", "AQID"))), undefined, "a wanted block inside an unwanted one is not looked at");
  t.equal(decode(block("CERTIFICATE REQUEST", "AQ=D")), undefined, "padding in the middle");
  t.equal(decode(block("CERTIFICATE REQUEST", "AQ===")), undefined, "three padding characters");
  t.equal(decode(block("CERTIFICATE REQUEST", "AQ-D")), undefined, "base64url is not PEM");
  t.equal(decode(block("CERTIFICATE REQUEST", "  \n")), undefined, "an empty body");
  t.equal(decode("-----BEGIN CERTIFICATE REQUEST-----\nAQID\n-----END CERTIFICATE-----\n"), undefined, "mismatched END");
  const der = decodePemBlock(block("CERTIFICATE REQUEST", "AQID"), want)!;
  t.equal(der.byteOffset, 0, "the DER has an ArrayBuffer of its own");
  t.equal(der.buffer.byteLength, 3);
});
