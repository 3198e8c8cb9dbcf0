// RFC 7512 PKCS#11 URIs, as far as naming one private key needs:
//   pkcs11:token=CA;object=root-2026;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/certwright/pin

/** A private key's place in a PKCS#11 module, as a `pkcs11:` URI names it. */
export interface Pkcs11Uri {
  /** The token's label (CKA_LABEL of the token, CK_TOKEN_INFO.label). */
  token: string | undefined;
  /** The token's serial number, to tell apart tokens with the same label. */
  serial: string | undefined;
  /** The slot's number, as the module counts them. */
  slotId: bigint | undefined;
  /** The key's CKA_LABEL. */
  object: string | undefined;
  /** The key's CKA_ID, bytes. */
  id: Buffer | undefined;
  /** Where the user PIN is: a file (`pin-source=file:/path` or a path). */
  pinFile: string | undefined;
  /** The module's shared library, if the URI names it. */
  modulePath: string | undefined;
}

/** Attributes a URI may carry that this service does not match on: the token is found without them. */
const ignored = new Set(["manufacturer", "model", "library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer", "module-name"]);

export function isPkcs11Uri(text: string): boolean {
  return /^pkcs11:/i.test(text);
}

function decode(name: string, value: string): Buffer {
  // Percent-encoding carries bytes (an id such as %01%a2), so the value is decoded to bytes, not text.
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "%") {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`pkcs11: URI: ${name}="${value}" has a % not followed by two hex digits`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, "utf8"));
    }
  }
  return Buffer.from(bytes);
}

function pinFileOf(source: string): string {
  if (source.startsWith("|")) throw new Error("pkcs11: URI: pin-source naming a command (|...) is not supported; put the PIN in a file and give pin-source=file:/path");
  const match = /^file:(?:\/\/(?:localhost)?(?=\/))?(.+)$/i.exec(source);
  if (match) return match[1]!;
  if (/^[a-z][a-z0-9+.-]*:/i.test(source)) throw new Error(`pkcs11: URI: pin-source "${source}" is not a file; give pin-source=file:/path`);
  return source;
}

/**
 * Reads a `pkcs11:` URI (RFC 7512). Path attributes (`;`-separated) find the token and the key;
 * query attributes (`&`-separated, after `?`) say where the module and the PIN are. `pin-value` is
 * refused: a URI is shown in logs, process lists and error messages, and a PIN in it leaks.
 * Throws a plain Error naming the attribute at fault.
 */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!isPkcs11Uri(text)) throw new Error(`"${text}" is not a pkcs11: URI`);
  const rest = text.slice("pkcs11:".length);
  const queryAt = rest.indexOf("?");
  const pathPart = queryAt < 0 ? rest : rest.slice(0, queryAt);
  const queryPart = queryAt < 0 ? "" : rest.slice(queryAt + 1);
  const uri: Pkcs11Uri = { token: undefined, serial: undefined, slotId: undefined, object: undefined, id: undefined, pinFile: undefined, modulePath: undefined };
  const seen = new Set<string>();
  const attributes = [...pathPart.split(";").map((part) => ({ part, inQuery: false })), ...queryPart.split("&").map((part) => ({ part, inQuery: true }))];
  for (const { part, inQuery } of attributes) {
    if (part === "") continue;
    const equals = part.indexOf("=");
    if (equals < 0) throw new Error(`pkcs11: URI: "${part}" is not name=value`);
    const name = part.slice(0, equals).toLowerCase();
    const value = decode(name, part.slice(equals + 1));
    if (seen.has(name)) throw new Error(`pkcs11: URI: ${name} is given twice`);
    seen.add(name);
    switch (name) {
      case "token":
        uri.token = value.toString("utf8");
        break;
      case "serial":
        uri.serial = value.toString("utf8");
        break;
      case "slot-id": {
        const digits = value.toString("utf8");
        if (!/^\d+$/.test(digits)) throw new Error(`pkcs11: URI: slot-id "${digits}" is not a number`);
        uri.slotId = BigInt(digits);
        break;
      }
      case "object":
        uri.object = value.toString("utf8");
        break;
      case "id":
        uri.id = value;
        break;
      case "type": {
        const type = value.toString("utf8");
        if (type !== "private") throw new Error(`pkcs11: URI: type=${type} cannot sign; name the private key (type=private, or leave type out)`);
        break;
      }
      case "pin-value":
        throw new Error("pkcs11: URI: pin-value is refused, as a PIN in a URI ends up in logs and process lists; put the PIN in a file (--pkcs11-pin-file FILE, or pin-source=file:/path)");
      case "pin-source":
        uri.pinFile = pinFileOf(value.toString("utf8"));
        break;
      case "module-path":
        uri.modulePath = value.toString("utf8");
        break;
      default:
        if (!ignored.has(name)) {
          throw new Error(`pkcs11: URI: attribute ${name}${inQuery ? " (after ?)" : ""} is not known; name the key with token, object and id (and serial or slot-id), and the module and PIN with module-path and pin-source`);
        }
    }
  }
  if (uri.object === undefined && uri.id === undefined) {
    throw new Error("pkcs11: URI: it names no key; give object=LABEL or id=%XX (the key's CKA_LABEL or CKA_ID)");
  }
  return uri;
}

/** How the URI's key is described in messages: its label and id as the URI gives them. */
export function describeKey(uri: Pkcs11Uri): string {
  const parts = [uri.object !== undefined ? `label "${uri.object}"` : undefined, uri.id !== undefined ? `id ${uri.id.toString("hex")}` : undefined];
  return parts.filter(Boolean).join(" and ");
}
