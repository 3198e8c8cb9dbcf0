import { CertwrightError } from "../errors.js";

/** RFC 5280 5.3.1 CRLReason codes, by their RFC names (7 is not used). */
export const reasonCodes = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type ReasonName = keyof typeof reasonCodes;

// Lower-cased RFC names are exactly cfssl's ocsp.RevocationReasonCodes keys, so one table serves both.
const byLowerName = new Map<string, number>(Object.entries(reasonCodes).map(([name, code]) => [name.toLowerCase(), code]));
const byCode = new Map<number, ReasonName>(Object.entries(reasonCodes).map(([name, code]) => [code, name as ReasonName]));

export const acceptedReasons = `${Object.keys(reasonCodes).join(", ")} (any case), or the code as a number (0-6, 8-10)`;

/**
 * Reads a revocation reason as cfssl's `revoke` takes it: an RFC 5280 name in any case (so cfssl's
 * lower-case names too) or the decimal code. An empty reason is refused: the caller decides the
 * default (cfssl's is "unspecified") before calling.
 */
export function parseRevocationReason(text: string): number {
  const trimmed = text.trim();
  const code = /^\d{1,2}$/.test(trimmed) ? Number(trimmed) : byLowerName.get(trimmed.toLowerCase());
  if (code === undefined || !byCode.has(code)) {
    throw new CertwrightError("invalidRequest", `reason: "${text}" is not a revocation reason; accepted: ${acceptedReasons}`);
  }
  return code;
}

/** The RFC 5280 name of a reason code; throws a RangeError for codes that are not reasons (7, 11...). */
export function reasonName(code: number): ReasonName {
  const name = byCode.get(code);
  if (name === undefined) throw new RangeError(`${code} is not an RFC 5280 revocation reason code`);
  return name;
}

/** RFC 5280 4.1.2.2: serials are at most 20 octets; longer ones are refused rather than looked up. */
const maxSerialOctets = 20;

export const acceptedSerials =
  "decimal digits (as cfssl prints serials), or hex with 0x (0x3F0A...), with colons (3f:0a:...) or as openssl x509 -serial prints it (serial=3F0A...); at most 20 octets";

/**
 * Reads a certificate serial as people copy it. Only digits: decimal, as cfssl reads `serial`.
 * With `0x`, colons, hex letters or openssl's `serial=` prefix: hex (openssl always prints hex, so
 * `serial=1234` is 0x1234). Leading zeros are ignored; longer than 20 octets is refused.
 */
export function parseSerial(text: string): bigint {
  let body = text.trim();
  let hex = false;
  if (/^serial=/i.test(body)) {
    body = body.slice("serial=".length);
    hex = true;
  }
  if (/^0x/i.test(body)) {
    body = body.slice(2);
    hex = true;
  }
  let value: bigint | undefined;
  if (!hex && /^\d+$/.test(body)) {
    value = BigInt(body);
  } else if (/^[0-9a-f]+$/i.test(body) || /^[0-9a-f]{1,2}(:[0-9a-f]{2})+$/i.test(body)) {
    value = BigInt(`0x${body.replace(/:/g, "")}`);
  }
  if (value === undefined) {
    throw new CertwrightError("invalidRequest", `serial: "${text}" is not a serial number; accepted: ${acceptedSerials}`);
  }
  if (value >> BigInt(8 * maxSerialOctets) !== 0n) {
    throw new CertwrightError("invalidRequest", `serial: "${text}" is longer than 20 octets, so no certificate can have it`);
  }
  return value;
}

/** Decimal, as cfssl's certdb stores serials and certinfo prints them. */
export function serialToDecimal(serial: bigint): string {
  return serial.toString(10);
}

/** Upper-case hex of even length without separators, as `openssl x509 -serial` prints it. */
export function serialToHex(serial: bigint): string {
  const hex = serial.toString(16).toUpperCase();
  return hex.length % 2 ? `0${hex}` : hex;
}
