import { isIP } from "node:net";
import { domainToASCII } from "node:url";
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

/** At most this many `hosts` entries (and CSR SANs) in one certificate; the wire schema says the same. */
export const maxHosts = 100;
/** RFC 1035 2.3.4: a label is at most 63 octets, a name at most 253 characters in text form (255 octets on the wire). */
const maxLabelLength = 63;
const maxNameLength = 253;

// C0 controls, DEL and C1 controls. A trailing newline is refused too: it is a pasting mistake, and
// some consumers (logs, headers, config files) would treat what follows it as something else.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is its job.
const controlPattern = /[\u0000-\u001f\u007f-\u009f]/;
// Any UTF-16 code unit beyond ASCII, as [^\x00-\x7f] but without naming a control character.
const nonAsciiPattern = /[\u0080-\uffff]/;
// An email address's local part: printable ASCII without spaces, `@`, `<` or `>` (rfc822Name is an IA5String).
const localPartPattern = /^[\x21-\x7e]+$/;
// Letters, digits, hyphens and underscores (seen in internal names such as `_acme`, `svc_internal`),
// neither starting nor ending with a hyphen.
const labelPattern = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

function describeChar(value: string): string {
  const match = controlPattern.exec(value);
  const code = match ? match[0].charCodeAt(0) : 0;
  const name = code === 0 ? "NUL" : code === 9 ? "tab" : code === 10 ? "newline" : code === 13 ? "carriage return" : "control character";
  return `${name} (U+${code.toString(16).toUpperCase().padStart(4, "0")})`;
}

/** True when a string holds an unpaired UTF-16 surrogate (JSON can carry one; it is no character at all). */
function hasLoneSurrogate(value: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value);
}

/**
 * Checks a DNS name and returns it in the form that goes into the certificate, or says what is wrong.
 *
 * Internationalized names are converted deliberately to their ASCII (punycode, `xn--`) form with
 * WHATWG/UTS #46 processing (node:url `domainToASCII`, the conversion browsers apply to the name in
 * the address bar): a dNSName SAN is an IA5String (RFC 5280 4.2.1.6, RFC 8399 2.1 asks for A-labels),
 * and a TLS client compares against the A-label form, so `bücher.example` is issued as
 * `xn--bcher-kva.example`. A name that UTS #46 refuses (invalid punycode, forbidden code points) is
 * refused. ASCII names keep the spelling they were sent with.
 *
 * One trailing dot (the root, `example.com.`) is dropped: RFC 5280's preferred name syntax has none,
 * and with it the SAN would not match the host name clients check. Limits count the name without it.
 */
export function checkDnsName(input: string): { name: string } | { problem: string } {
  let name = input;
  if (/\s/.test(name)) return { problem: "it contains a space" };
  if (nonAsciiPattern.test(name)) {
    const wildcard = name.startsWith("*.");
    const ascii = domainToASCII(wildcard ? name.slice(2) : name);
    if (ascii === "") {
      return { problem: "it is an internationalized name that cannot be converted to punycode (IDNA); send its xn-- form" };
    }
    name = wildcard ? `*.${ascii}` : ascii;
  }
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name === "" || name === "*") return { problem: "it has no labels; give a name like host.example.com" };
  if (name.length > maxNameLength) {
    return { problem: `it is ${name.length} characters long, and a DNS name has at most ${maxNameLength}` };
  }
  const labels = name.split(".");
  // The WHATWG URL parser (browsers, Node's fetch and URL) and inet_aton (curl, OpenSSL's
  // hostname checks) read a host whose last label is a number as an IPv4 address in some form
  // (`134744072`, `010.010.010.010`, `0x8.8.8.8`, `8.8.8.8.`): certified as a DNS name it would
  // dodge every IP rule of a policy and be matched as an address.
  if (/^(?:0x[0-9a-f]*|[0-9]+)$/i.test(labels[labels.length - 1]!)) {
    return { problem: "it ends in a number, so clients read it as an IPv4 address; write an IP address in dotted decimal (10.0.0.1), or a name whose last label is not a number" };
  }
  for (const [i, label] of labels.entries()) {
    if (i === 0 && label === "*" && labels.length > 1) continue; // the wildcard label
    if (label === "") {
      return { problem: "it has an empty label (\"..\", a leading dot or an extra trailing dot); remove the extra dot" };
    }
    if (label.length > maxLabelLength) {
      return { problem: `it has a label of ${label.length} characters, and a DNS label has at most ${maxLabelLength}` };
    }
    if (label.includes("*")) {
      return { problem: "it has a misplaced wildcard; only a whole leftmost label \"*\" (as in *.example.com) is allowed" };
    }
    if (label.startsWith("-") || label.endsWith("-")) {
      return { problem: `its label "${label}" starts or ends with a hyphen` };
    }
    if (!labelPattern.test(label)) {
      return { problem: "labels hold letters, digits, hyphens and underscores only" };
    }
  }
  return { name };
}

/** How a CN reads as a host: a DNS name or IP address in the form it is checked in, ambiguous, or no host at all. */
export type CommonNameHost = { kind: "dns" | "ip"; name: string } | { kind: "ambiguous"; problem: string } | { kind: "none" };

/**
 * Reads a CN the way a client that falls back to the CN might read it as a host: surrounding spaces
 * trimmed, a trailing dot dropped, an IDN as punycode. `ambiguous`: it looks like an IPv4 address
 * in a form clients read differently (`134744072`, `010.010.010.010`).
 */
export function commonNameHost(cn: string): CommonNameHost {
  const trimmed = cn.trim();
  const bare = trimmed.endsWith(".") ? trimmed.slice(0, -1) : trimmed;
  if (isIP(bare)) return { kind: "ip", name: bare };
  const checked = checkDnsName(trimmed);
  if ("name" in checked) return { kind: "dns", name: checked.name };
  if (checked.problem.startsWith("it ends in a number")) return { kind: "ambiguous", problem: checked.problem.replace(/^it /, "") };
  return { kind: "none" };
}

function uriProblem(host: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(host)) return "holds a space or a non-ASCII character; percent-encode it";
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]/.test(host)) return "is not a valid URI (expected scheme://host/...)";
  try {
    const url = new URL(host);
    return url.host !== "" ? undefined : "is not a valid URI (expected scheme://host/...)";
  } catch {
    return "is not a valid URI (expected scheme://host/...)";
  }
}

/** Checks an email address (rfc822Name): an ASCII local part and a valid domain, IDNs converted as for DNS names. */
function checkEmail(host: string): { email: string } | { problem: string } {
  const at = host.lastIndexOf("@");
  const local = host.slice(0, at);
  const domain = host.slice(at + 1);
  if (local === "" || domain === "" || local.includes("@") || !localPartPattern.test(local) || /[<>]/.test(local)) {
    return { problem: "is not a valid email address (expected name@example.com, ASCII before the @)" };
  }
  const checked = checkDnsName(domain);
  if ("problem" in checked) return { problem: `is not a valid email address: in its domain, ${checked.problem}` };
  return { email: `${local}@${checked.name}` };
}

/**
 * Splits `hosts` entries into SANs the way cfssl does: an IP address (v4 or v6) becomes an IP SAN,
 * a URL with a scheme and a host (`spiffe://…`) a URI SAN, another entry with `@` an email SAN, and
 * anything else a DNS name (wildcards included; IDNs as punycode, see `checkDnsName`). Surrounding
 * spaces are trimmed and duplicates dropped; an entry that is none of these, holds a control
 * character, or a list of more than `maxHosts` entries is refused, naming the entry and what to fix.
 */
export function splitHosts(hosts: readonly string[]): SubjectAltNames {
  if (hosts.length > maxHosts) {
    throw new CertwrightError(
      "csrInvalid",
      `hosts has ${hosts.length} entries; at most ${maxHosts} are accepted in one certificate: split them over several`,
    );
  }
  const sans = emptySans();
  const seen = new Set<string>();
  hosts.forEach((raw, index) => {
    const where = `hosts[${index}]`;
    if (controlPattern.test(raw)) {
      throw new CertwrightError("csrInvalid", `${where} ${JSON.stringify(raw)} contains a ${describeChar(raw)}; remove it`);
    }
    if (hasLoneSurrogate(raw)) {
      throw new CertwrightError("csrInvalid", `${where} is not valid Unicode (an unpaired surrogate); send UTF-8 text`);
    }
    const host = raw.trim();
    if (host === "") {
      throw new CertwrightError("csrInvalid", `${where} is empty; remove it or give a DNS name, IP address, email address or URI`);
    }
    const add = (list: string[], value: string, key: string) => {
      if (seen.has(key)) return;
      seen.add(key);
      list.push(value);
    };
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    if (isIP(bare)) {
      if (bare.includes("%")) {
        throw new CertwrightError("csrInvalid", `${where} "${host}": an IP SAN cannot carry a zone index (%...); remove it`);
      }
      add(sans.ip, bare, bare.toLowerCase());
    } else if (host.includes("://")) {
      // Before the email test: a URI may hold an `@` (userinfo, path); an email address never holds "://".
      const problem = uriProblem(host);
      if (problem) throw new CertwrightError("csrInvalid", `${where} "${host}" ${problem}`);
      // A URI's path is case-sensitive (RFC 3986 6.2.2.1, SPIFFE IDs): only other names fold case.
      add(sans.uri, host, host);
    } else if (host.includes("@")) {
      const checked = checkEmail(host);
      if ("problem" in checked) throw new CertwrightError("csrInvalid", `${where} "${host}" ${checked.problem}`);
      add(sans.email, checked.email, checked.email.toLowerCase());
    } else {
      const checked = checkDnsName(host);
      if ("problem" in checked) {
        const what = /\s/.test(host) ? "a valid DNS name, IP address, email address or URI" : "a valid DNS name";
        throw new CertwrightError("csrInvalid", `${where} "${host}" is not ${what}: ${checked.problem}`);
      }
      add(sans.dns, checked.name, checked.name.toLowerCase());
    }
  });
  return sans;
}

/**
 * Checks the SANs read from a CSR (used when its SANs are kept): the same rules as `hosts`, except
 * that names are taken as they are encoded (a DNS SAN must already be ASCII). `where` names the
 * source in messages. Returns them as `hosts` would have them: a DNS name's trailing dot dropped
 * (a certificate naming `example.com.` matches no client's host name), duplicates once.
 */
export function checkSans(sans: SubjectAltNames, where: string): SubjectAltNames {
  const total = sanCount(sans);
  if (total > maxHosts) {
    throw new CertwrightError("csrInvalid", `${where} has ${total} subject alternative names; at most ${maxHosts} are accepted`);
  }
  const refuse = (kind: string, value: string, problem: string): never => {
    throw new CertwrightError("csrInvalid", `${where}: ${kind} SAN ${JSON.stringify(value)} ${problem}; send hosts to replace the CSR's SANs, or make the CSR again`);
  };
  for (const [kind, list] of [["DNS", sans.dns], ["email", sans.email], ["URI", sans.uri]] as const) {
    for (const value of list) {
      if (controlPattern.test(value)) refuse(kind, value, `contains a ${describeChar(value)}`);
      if (nonAsciiPattern.test(value)) refuse(kind, value, "holds non-ASCII characters (an IA5String cannot)");
    }
  }
  const dns = new Map<string, string>();
  for (const value of sans.dns) {
    const checked = checkDnsName(value);
    const name = "name" in checked ? checked.name : refuse("DNS", value, `is not a valid DNS name: ${checked.problem}`);
    if (!dns.has(name.toLowerCase())) dns.set(name.toLowerCase(), name);
  }
  for (const value of sans.email) {
    if (!value.includes("@")) refuse("email", value, "is not an email address");
    const checked = checkEmail(value);
    if ("problem" in checked) refuse("email", value, checked.problem);
  }
  for (const value of sans.uri) {
    const problem = uriProblem(value);
    if (problem) refuse("URI", value, problem);
  }
  return { ...sans, dns: [...dns.values()] };
}
