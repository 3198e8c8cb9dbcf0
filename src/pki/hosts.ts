import { isIP } from "node:net";
import { CertwrightError } from "../errors.js";

/** Subject alternative names by kind. */
export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

export function emptySans(): SubjectAltNames {
  return { dns: [], ip: [], email: [], uri: [] };
}

export function sanCount(sans: SubjectAltNames): number {
  return sans.dns.length + sans.ip.length + sans.email.length + sans.uri.length;
}

/** All names in one list, in cfssl's order: DNS, then IP, then email, then URI. */
export function sanList(sans: SubjectAltNames): string[] {
  return [...sans.dns, ...sans.ip, ...sans.email, ...sans.uri];
}

const emailPattern = /^[^\s@<>]+@[^\s@<>]+$/;
// Letters, digits, hyphens, underscores (seen in internal names) and dots, with an optional
// leading wildcard label; anything else would make a name no TLS client can match.
const dnsPattern = /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

function uriOf(host: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]/.test(host)) return undefined;
  try {
    const url = new URL(host);
    return url.host !== "" ? host : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Splits `hosts` entries into SANs the way cfssl does: an IP address (v4 or v6) becomes an IP SAN,
 * a URL with a scheme and a host (`spiffe://…`) a URI SAN, another entry with `@` an email SAN, and
 * anything else a DNS name (wildcards included). Duplicates are dropped; an entry that is none
 * of these is refused, naming it.
 */
export function splitHosts(hosts: readonly string[]): SubjectAltNames {
  const sans = emptySans();
  const seen = new Set<string>();
  hosts.forEach((raw, index) => {
    const host = raw.trim();
    const where = `hosts[${index}]`;
    if (host === "") {
      throw new CertwrightError("csrInvalid", `${where} is empty; remove it or give a DNS name, IP address, email address or URI`);
    }
    // A URI's path is case-sensitive (RFC 3986 6.2.2.1, SPIFFE IDs): only other names fold case.
    const key = host.includes("://") ? host : host.toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    if (isIP(bare)) {
      sans.ip.push(bare);
    } else if (host.includes("://")) {
      // Before the email test: a URI may hold an `@` (userinfo, path); an email address never holds "://".
      const uri = uriOf(host);
      if (!uri) {
        throw new CertwrightError("csrInvalid", `${where} "${host}" is not a valid URI (expected scheme://host/...)`);
      }
      sans.uri.push(uri);
    } else if (host.includes("@")) {
      if (!emailPattern.test(host)) {
        throw new CertwrightError("csrInvalid", `${where} "${host}" is not a valid email address`);
      }
      sans.email.push(host);
    } else {
      if (host.length > 253 || !dnsPattern.test(host)) {
        throw new CertwrightError(
          "csrInvalid",
          `${where} "${host}" is not a valid DNS name, IP address, email address or URI`,
        );
      }
      sans.dns.push(host);
    }
  });
  return sans;
}
