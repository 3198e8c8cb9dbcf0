import { x509 } from "./webcrypto.js";

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

/** Go's pkix.Name order, so certificates read the same as cfssl's. */
const encodingOrder: (keyof SubjectFields)[] = ["C", "O", "OU", "L", "ST", "SerialNumber", "CN", "E"];

function emptyFields(): SubjectFields {
  return { CN: [], C: [], ST: [], L: [], O: [], OU: [], E: [], SerialNumber: [] };
}

/** Collects the attributes of a CSR JSON subject; empty strings are skipped as cfssl skips them. */
export function subjectFieldsFromRequest(request: SubjectRequest): SubjectFields {
  const fields = emptyFields();
  const add = (type: keyof SubjectFields, value: string | undefined) => {
    if (value !== undefined && value !== "") fields[type].push(value);
  };
  add("CN", request.CN);
  add("SerialNumber", request.SerialNumber);
  for (const entry of request.names ?? []) {
    add("C", entry.C);
    add("ST", entry.ST);
    add("L", entry.L);
    add("O", entry.O);
    add("OU", entry.OU);
    add("E", entry.E);
    add("SerialNumber", entry.SerialNumber);
  }
  return fields;
}

/** Reads the attributes the service knows from an encoded name (a CSR's subject). */
export function subjectFieldsFromName(name: x509.Name): SubjectFields {
  const fields = emptyFields();
  for (const type of encodingOrder) {
    fields[type] = name.getField(oids[type]);
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
 * Encodes the attributes as an X.501 name, one attribute per RDN. Values are PrintableString
 * when they fit and UTF8String otherwise (as Go does), so names in any script round-trip.
 */
export function buildName(fields: SubjectFields): x509.Name {
  const rdns: Record<string, { printableString?: string; utf8String?: string; ia5String?: string }[]>[] = [];
  for (const type of encodingOrder) {
    for (const value of fields[type]) {
      const encoded = type === "E" ? { ia5String: value } : isPrintable(value) ? { printableString: value } : { utf8String: value };
      rdns.push({ [oids[type]]: [encoded] });
    }
  }
  return new x509.Name(rdns as unknown as x509.JsonName);
}
