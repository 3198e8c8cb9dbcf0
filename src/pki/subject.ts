import { CertwrightError } from "../errors.js";
import { Tag } from "./der.js";
import { encodeName, type DistinguishedName, type NameAttribute } from "./name.js";

/** cfssl's `names` entry: one set of subject attributes. */
export interface NameEntry {
  C?: string | undefined;
  ST?: string | undefined;
  L?: string | undefined;
  O?: string | undefined;
  OU?: string | undefined;
  E?: string | undefined;
  SerialNumber?: string | undefined;
}

/** The subject of a CSR JSON (or of a sign request's `subject` override). */
export interface SubjectRequest {
  CN?: string | undefined;
  names?: NameEntry[] | null | undefined;
  SerialNumber?: string | undefined;
}

/** Subject attributes by type, each with its values in request order. */
export interface SubjectFields {
  CN: string[];
  C: string[];
  ST: string[];
  L: string[];
  O: string[];
  OU: string[];
  E: string[];
  SerialNumber: string[];
}

const oids: Record<keyof SubjectFields, string> = {
  C: "2.5.4.6",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  L: "2.5.4.7",
  ST: "2.5.4.8",
  SerialNumber: "2.5.4.5",
  CN: "2.5.4.3",
  E: "1.2.840.113549.1.9.1",
};

/**
 * Short names of the subject attribute types a CSR may carry, by OID: the ones cfssl writes
 * (`SerialNumber` as cfssl spells it) and the others OpenSSL knows by name. Policies and messages
 * name an attribute this way; one without a name here goes by its dotted OID.
 */
const attributeNamesByOid = new Map<string, string>([
  ...Object.entries(oids).map(([type, id]) => [id, type] as [string, string]),
  ["2.5.4.4", "SN"],
  ["2.5.4.9", "STREET"],
  ["2.5.4.12", "title"],
  ["2.5.4.15", "businessCategory"],
  ["2.5.4.17", "postalCode"],
  ["2.5.4.42", "GN"],
  ["2.5.4.43", "initials"],
  ["2.5.4.44", "generationQualifier"],
  ["2.5.4.46", "dnQualifier"],
  ["2.5.4.65", "pseudonym"],
  ["2.5.4.97", "organizationIdentifier"],
  ["0.9.2342.19200300.100.1.1", "UID"],
  ["0.9.2342.19200300.100.1.25", "DC"],
  ["1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"],
  ["1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"],
  ["1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"],
]);

/** The OID of an attribute named as `attributeName` names it (case-insensitively), or a dotted OID as it is. */
export function attributeOid(name: string): string | undefined {
  if (/^\d+(\.\d+)+$/.test(name)) return name;
  const lower = name.toLowerCase();
  for (const [id, known] of attributeNamesByOid) if (known.toLowerCase() === lower) return id;
  return undefined;
}

/** An attribute type's short name (`CN`, `O`, `DC`, `UID`…), or its dotted OID when it has none. */
export function attributeName(oid: string): string {
  return attributeNamesByOid.get(oid) ?? oid;
}

/** One attribute of a subject, whatever its RDN: its type (OID and short name) and its value. */
export interface SubjectAttribute {
  oid: string;
  name: string;
  value: string;
}

/** Every attribute of a name, in order, multi-valued RDNs flattened: everything a verifier may read. */
export function subjectAttributes(name: DistinguishedName): SubjectAttribute[] {
  return name.rdns.flat().map(({ oid, value }) => ({ oid, name: attributeName(oid), value }));
}

/** The OIDs of the common name and the email address attributes. */
export const commonNameOid = oids.CN;
export const emailAddressOid = oids.E;

/** The attribute types above by OID: which field of `SubjectFields` an attribute of a name fills. */
const typesByOid = new Map(Object.entries(oids).map(([type, id]) => [id, type as keyof SubjectFields]));

/**
 * The order Go's pkix.Name.ToRDNSequence writes (C, ST, L, O, OU, CN, serialNumber, then cfssl's
 * email as an extra name), which is also openssl's and X.520's: cfssl's certificates and ours then
 * name the same subject with the same bytes, and zlint's e_invalid_subject_rdn_order passes.
 */
const encodingOrder: (keyof SubjectFields)[] = ["C", "ST", "L", "O", "OU", "CN", "SerialNumber", "E"];

function emptyFields(): SubjectFields {
  return { CN: [], C: [], ST: [], L: [], O: [], OU: [], E: [], SerialNumber: [] };
}

/**
 * Upper bounds of each attribute, in characters: X.520's ub-* values as RFC 5280 Appendix A lists
 * them (ub-common-name 64, ub-organization-name 64, ub-organizational-unit-name 64,
 * ub-locality-name 128, ub-state-name 128, ub-serial-number 64, ub-emailaddress-length 255).
 * A country is exactly two letters (ISO 3166 alpha-2, a PrintableString).
 */
export const subjectLimits: Record<keyof SubjectFields, number> = {
  CN: 64,
  O: 64,
  OU: 64,
  L: 128,
  ST: 128,
  SerialNumber: 64,
  E: 255,
  C: 2,
};

const attributeNames: Record<keyof SubjectFields, string> = {
  CN: "common name",
  C: "country",
  ST: "state or province",
  L: "locality",
  O: "organization",
  OU: "organizational unit",
  E: "email address",
  SerialNumber: "serial number",
};

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is its job.
const controlPattern = /[\u0000-\u001f\u007f-\u009f]/;
const loneSurrogatePattern = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * What is wrong with one attribute value, or undefined when it is fine. Lengths count characters
 * (Unicode code points), as the ASN.1 bounds do for UTF8String.
 */
export function subjectValueProblem(type: keyof SubjectFields, value: string): string | undefined {
  const control = controlPattern.exec(value);
  if (control) {
    const code = control[0].charCodeAt(0);
    const what = code === 0 ? "NUL" : "a control character";
    return `contains ${what} (U+${code.toString(16).toUpperCase().padStart(4, "0")}); remove it`;
  }
  if (loneSurrogatePattern.test(value)) return "is not valid Unicode (an unpaired surrogate); send UTF-8 text";
  if (type === "C") {
    return /^[A-Za-z]{2}$/.test(value) ? undefined : `${JSON.stringify(value)} must be a two-letter country code (ISO 3166), e.g. "US"`;
  }
  if (type === "E" && /[^\x20-\x7e]/.test(value)) {
    return "must be ASCII (an email address attribute is an IA5String)";
  }
  const limit = subjectLimits[type];
  // A string has no more code points than UTF-16 units, so only one that long needs counting.
  const length = value.length > limit ? [...value].length : value.length;
  if (length > limit) {
    return `is ${length} characters long; the ${attributeNames[type]} holds at most ${limit} (RFC 5280)`;
  }
  return undefined;
}

function refuse(where: string, problem: string): never {
  throw new CertwrightError("csrInvalid", `${where} ${problem}`);
}

/**
 * Checks every attribute against `subjectLimits`, control characters and NUL; refuses with code
 * 9300 naming the attribute (`CN`, `C`...) and what to fix. `prefix` names where they came from.
 */
export function checkSubjectFields(fields: SubjectFields, prefix = ""): void {
  for (const type of encodingOrder) {
    fields[type].forEach((value, i) => {
      const problem = subjectValueProblem(type, value);
      if (problem) refuse(`${prefix}${type}${fields[type].length > 1 ? `[${i}]` : ""}`, problem);
    });
  }
}

/**
 * Collects the attributes of a CSR JSON subject; empty strings are skipped as cfssl skips them.
 * Each value is checked (see `checkSubjectFields`), and a refusal names it as the request does:
 * `CN`, `names[0].C`.
 */
export function subjectFieldsFromRequest(request: SubjectRequest): SubjectFields {
  const fields = emptyFields();
  const add = (type: keyof SubjectFields, value: string | undefined, where: string) => {
    if (value === undefined || value === "") return;
    const problem = subjectValueProblem(type, value);
    if (problem) refuse(where, problem);
    fields[type].push(value);
  };
  add("CN", request.CN, "CN");
  add("SerialNumber", request.SerialNumber, "SerialNumber");
  (request.names ?? []).forEach((entry, i) => {
    add("C", entry.C, `names[${i}].C`);
    add("ST", entry.ST, `names[${i}].ST`);
    add("L", entry.L, `names[${i}].L`);
    add("O", entry.O, `names[${i}].O`);
    add("OU", entry.OU, `names[${i}].OU`);
    add("E", entry.E, `names[${i}].E`);
    add("SerialNumber", entry.SerialNumber, `names[${i}].SerialNumber`);
  });
  return fields;
}

/** Reads the attributes the service knows from an encoded name (a CSR's subject). */
export function subjectFieldsFromName(name: DistinguishedName): SubjectFields {
  const fields = emptyFields();
  // One pass over the RDNs; each type's values keep the order they have in the name.
  for (const rdn of name.rdns) {
    for (const { oid, value } of rdn) {
      const type = typesByOid.get(oid);
      if (type) fields[type].push(value);
    }
  }
  return fields;
}

/**
 * cfssl's rule for a sign request's `subject`: each attribute the override sets replaces the
 * CSR's; the ones it leaves empty keep the CSR's values.
 */
export function mergeSubjectFields(override: SubjectFields, base: SubjectFields): SubjectFields {
  const merged = emptyFields();
  for (const type of encodingOrder) {
    merged[type] = override[type].length > 0 ? override[type] : base[type];
  }
  return merged;
}

export function isEmptySubject(fields: SubjectFields): boolean {
  return encodingOrder.every((type) => fields[type].length === 0);
}

function isPrintable(value: string): boolean {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value);
}

/**
 * Checks the attributes (`checkSubjectFields`) and encodes them as an X.501 name, one attribute per RDN. Values are PrintableString
 * when they fit and UTF8String otherwise (as Go does), so names in any script round-trip.
 */
export function buildName(fields: SubjectFields): DistinguishedName {
  checkSubjectFields(fields, "subject ");
  const rdns: NameAttribute[][] = [];
  for (const type of encodingOrder) {
    for (const value of fields[type]) {
      const tag = type === "E" ? Tag.ia5String : isPrintable(value) ? Tag.printableString : Tag.utf8String;
      rdns.push([{ oid: oids[type], tag, value }]);
    }
  }
  return encodeName(rdns);
}

/**
 * Checks the subject of a CSR being signed: the attributes the service knows against their limits,
 * and every attribute, known or not, for control characters and NUL. `where` names the source.
 */
export function checkCsrSubject(name: DistinguishedName, where: string): void {
  checkSubjectFields(subjectFieldsFromName(name), `${where} `);
  for (const rdn of name.rdns) {
    for (const { oid, value } of rdn) {
      if (controlPattern.test(value) || loneSurrogatePattern.test(value)) {
        refuse(`${where} ${typesByOid.get(oid) ?? oid}`, subjectValueProblem("CN", value) ?? "is not valid text");
      }
    }
  }
}
