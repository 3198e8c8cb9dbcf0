import { createHmac, timingSafeEqual } from "node:crypto";
import { CertwrightError } from "../errors.js";
import { commonNameOid, type SubjectAttribute } from "../pki/subject.js";
import type { SigningConfig, SigningProfile } from "../profiles/signing-config.js";
import { SigningConfigs } from "../profiles/signing-configs.js";

/** Who a request proved to be: the auth key whose HMAC it carried. */
export interface Credential {
  keyName: string;
}

/** A verified mutual-TLS client certificate: its CN, its DNS and IP SANs, and its whole subject. */
export interface ClientCertificate {
  cn: string;
  names: string[];
  /** Every attribute of its subject; empty when it could not be read, which leaves only the CN to the client. */
  subject?: readonly SubjectAttribute[] | undefined;
}

/** An ACME account (RFC 8555) that asked through a provisioner; `eabKeyId` the auth key its external account binding used. */
export interface AcmeRequester {
  provisioner: string;
  accountId: string;
  eabKeyId?: string | undefined;
}

/** Everything known of who sent a request. */
export interface Requester {
  credential?: Credential | undefined;
  acme?: AcmeRequester | undefined;
  clientCertificate?: ClientCertificate | undefined;
  address?: string | undefined;
}

/**
 * Who asked, for the audit trail and the database's requested_by: the strongest identity the
 * request proved — its ACME account, else its auth key, else its client certificate's CN, else only its address.
 */
export function describeRequester(requester: Requester): string {
  if (requester.acme) return `acme:${requester.acme.provisioner}:${requester.acme.accountId}`;
  if (requester.credential) return `auth-key:${requester.credential.keyName}`;
  if (requester.clientCertificate) return `client-cn:${requester.clientCertificate.cn}`;
  return `address:${requester.address ?? "unknown"}`;
}

/**
 * A profile's client-certificate rules: `require_client_certificate` wants one, and
 * `own_names_only` lets a client name only itself (a node renews its own name, nobody else's).
 */
export function requireClientCertificate(profile: SigningProfile, requester: Requester): void {
  if (profile.requireClientCertificate && !requester.clientCertificate) {
    throw new CertwrightError(
      "authenticationRequired",
      `profile "${profile.name}" requires a client certificate: connect over mutual TLS (the service needs --mutual-tls-ca)`,
    );
  }
}

/**
 * With `own_names_only`, the certificate may name only the client: every CN value equal to its
 * client certificate's CN, every other subject attribute one its client certificate carries (so a
 * node cannot add `O=system:masters` to its own name), and every SAN among its CN, DNS and IP names.
 */
export function requireOwnNames(profile: SigningProfile, requester: Requester, subject: readonly SubjectAttribute[], sans: readonly string[]): void {
  if (!profile.ownNamesOnly) return;
  const client = requester.clientCertificate!;
  const own = new Set([client.cn, ...client.names].map((name) => name.toLowerCase()));
  const ownAttributes = new Set((client.subject ?? []).map((a) => `${a.oid}=${a.value}`));
  const commonNames = subject.filter((a) => a.oid === commonNameOid).map((a) => a.value);
  const foreign = [
    ...commonNames.filter((cn) => cn.toLowerCase() !== client.cn.toLowerCase()),
    ...sans.filter((name) => !own.has(name.toLowerCase())),
    ...subject.filter((a) => a.oid !== commonNameOid && !ownAttributes.has(`${a.oid}=${a.value}`)).map((a) => `${a.name}=${a.value}`),
  ];
  if (commonNames.length === 0 || foreign.length > 0) {
    throw new CertwrightError(
      "policyViolation",
      `profile "${profile.name}" issues only for the client's own names and subject (${[...own].join(", ")}); not for ${[...new Set(foreign.length ? foreign : ["an empty CN"])].join(", ")}`,
    );
  }
}

/**
 * What an operator who configured `auth_keys` should hear at start: cfssl's habits leave gaps that
 * look closed. Without an admin token the admin endpoints (init_ca, revoke, the inventory, reload)
 * are shut to everyone; a profile without `auth_key` (the default one included, which a request
 * that names no profile gets) still issues to anyone. With several CAs (`labels`, the default
 * first) under configs of their own, each CA's open profiles are named with its label.
 */
export function authenticationWarnings(config: SigningConfig | SigningConfigs, labels: readonly string[], adminToken: string | undefined): string[] {
  const groups = SigningConfigs.of(config).byConfig(labels.length > 0 ? labels : [""]);
  if (![...groups.keys()].some((each) => each.authKeys.size > 0)) return [];
  const warnings: string[] = [];
  if (!adminToken) {
    warnings.push("auth_keys are configured but no admin token: init_ca, revoke, the inventory and reload answer 403 to everyone; set --admin-token-file or CERTWRIGHT_ADMIN_TOKEN to use them");
  }
  for (const [each, cas] of groups) {
    const open = [each.defaultProfile, ...each.profiles.values()].filter((profile) => !profile.authKey).map((profile) => `"${profile.name}"`);
    if (open.length === 0) continue;
    const whose = groups.size > 1 ? ` of CA${cas.length > 1 ? "s" : ""} ${cas.map((label) => `"${label}"`).join(", ")}` : "";
    warnings.push(
      `auth_keys are configured, yet these profiles${whose} issue without authentication: ${open.join(", ")}${open.includes('"default"') ? " (a request that names no profile gets default)" : ""}; give them an auth_key to close them`,
    );
  }
  return warnings;
}

/** cfssl's standard token: HMAC-SHA256 of the request bytes under the key. */
export function hmacToken(key: Buffer, bytes: Uint8Array): Buffer {
  return createHmac("sha256", key).update(bytes).digest();
}

/** Compares in constant time; a token of the wrong length is simply wrong. */
export function tokenMatches(key: Buffer, bytes: Uint8Array, token: Uint8Array): boolean {
  const expected = hmacToken(key, bytes);
  return token.length === expected.length && timingSafeEqual(expected, token);
}

/**
 * cfssl checks auth keys only on authsign, so its sign and newcert hand certificates to anyone for
 * an authenticated profile. Here the profile's rule holds on every endpoint: no credential is 401,
 * a credential for another key 403.
 */
export function requireProfileCredential(profile: SigningProfile, credential: Credential | undefined): void {
  if (!profile.authKey) return;
  if (!credential) {
    throw new CertwrightError(
      "authenticationRequired",
      `profile "${profile.name}" requires authentication: use authsign, or send "Authorization: CFSSL-HMAC ${profile.authKey}:<base64 HMAC-SHA256 of the body>"`,
    );
  }
  if (credential.keyName !== profile.authKey && credential.keyName !== profile.prevAuthKey) {
    throw new CertwrightError("authenticationFailed", `profile "${profile.name}" takes requests signed with auth key "${profile.authKey}", not "${credential.keyName}"`);
  }
}

/**
 * Checks an `Authorization: CFSSL-HMAC <key-name>:<base64 HMAC>` header against the raw body.
 * Returns the credential, undefined without such a header, and refuses (403) a wrong one.
 */
export function credentialFromHeader(header: string | undefined, body: Uint8Array, keys: ReadonlyMap<string, Buffer>): Credential | undefined {
  if (!header || !/^CFSSL-HMAC\s/i.test(header)) return undefined;
  const match = /^CFSSL-HMAC\s+([^:\s]+):([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!match) throw new CertwrightError("authenticationFailed", "Authorization: expected \"CFSSL-HMAC <key-name>:<base64 HMAC-SHA256 of the body>\"");
  const [, keyName, token] = match;
  const key = keys.get(keyName!);
  if (!key || !tokenMatches(key, body, Buffer.from(token!, "base64"))) {
    // "invalid token" is cfssl's wording, which clients such as certmgr look for to tell a wrong key from an outage.
    throw new CertwrightError("authenticationFailed", `Authorization: invalid token: the HMAC does not match auth key "${keyName}" over the request body`);
  }
  return { keyName: keyName! };
}

/** Checks `Authorization: Bearer <token>` against the admin token, in constant time. */
export function requireAdmin(header: string | undefined, adminToken: string | undefined): void {
  // With auth_keys but no admin token the admin endpoints are closed to everyone: say so, rather
  // than ask the client for a token that does not exist.
  if (!adminToken) {
    throw new CertwrightError(
      "authenticationFailed",
      "this endpoint is closed: authentication is configured (auth_keys) but no admin token is; the operator opens it by starting the service with --admin-token-file or CERTWRIGHT_ADMIN_TOKEN",
    );
  }
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new CertwrightError("authenticationRequired", "this endpoint needs the admin token: send \"Authorization: Bearer <token>\"");
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(adminToken);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new CertwrightError("authenticationFailed", "the admin token is wrong");
  }
}
