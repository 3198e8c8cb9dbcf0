import { children, decodeString, DerError, type Element, expectTag, oid, oidToString, readWhole, sequence, set, stringOf, Tag } from "./der.js";

/** One attribute of a distinguished name: its type, its string type and its value. */
export interface NameAttribute {
  oid: string;
  tag: number;
  value: string;
}

/** An X.501 name: its DER (copied into certificates as it is) and its attributes, RDN by RDN. */
export interface DistinguishedName {
  der: Uint8Array;
  rdns: NameAttribute[][];
}

const stringTags = new Set<number>([Tag.utf8String, Tag.printableString, Tag.ia5String, Tag.teletexString, Tag.bmpString, Tag.universalString]);

/** A value's text; one of a type that is not a string shows as `#` and its DER in hex, as RFC 4514 writes it. */
function valueText(value: Element): string {
  return stringTags.has(value.tag) ? decodeString(value) : `#${Buffer.from(value.raw).toString("hex")}`;
}

/** Reads a Name (SEQUENCE OF SET OF AttributeTypeAndValue), keeping its encoding. */
export function readName(der: Uint8Array): DistinguishedName {
  const name = readWhole(der, Tag.sequence);
  const rdns = children(name.value).map((rdn) => {
    expectTag(rdn, Tag.set, "name");
    return children(rdn.value).map((atv) => {
      const [type, value] = children(expectTag(atv, Tag.sequence, "name attribute").value);
      const oidValue = oidToString(expectTag(type, Tag.oid, "attribute type").value);
      if (!value) throw new DerError("attribute without a value");
      return { oid: oidValue, tag: value.tag, value: valueText(value) };
    });
  });
  return { der: name.raw, rdns };
}

/** Encodes RDNs of attributes as a Name. */
export function encodeName(rdns: NameAttribute[][]): DistinguishedName {
  const der = sequence(...rdns.map((rdn) => set(...rdn.map((a) => sequence(oid(a.oid), stringOf(a.tag, a.value))))));
  return { der, rdns };
}

/** The values of one attribute type, in order. */
export function nameValues(name: DistinguishedName, type: string): string[] {
  const values: string[] = [];
  for (const rdn of name.rdns) {
    for (const attribute of rdn) if (attribute.oid === type) values.push(attribute.value);
  }
  return values;
}
