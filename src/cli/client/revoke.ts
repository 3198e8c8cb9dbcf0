// `certwright revoke`: revoke a certificate the service issued, by serial or from its file. The
// service's revoke is idempotent, so revoking again is a success that changes nothing.
import { CertwrightError } from "../../errors.js";
import { readCertificateIds, type CertificateIds } from "../../pki/read-certificate.js";
import { parseRevocationReason, parseSerial } from "../../pki/revocation.js";
import type { CertificateSummary } from "../../schemas/wire.js";
import { UsageError } from "../usage-error.js";
import { adminHeaders, readAdminToken } from "./auth.js";
import { ClientError, exitCodes } from "./errors.js";
import { readInput } from "./files.js";
import { commonFlags, expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./flags.js";
import { callService, jsonBytes, parseRemote } from "./http.js";
import { printJson, printMessages } from "./output.js";

const flags: FlagSpec[] = [
  commonFlags.remote,
  { name: "serial", value: "SERIAL", help: "decimal as cfssl prints it, or hex as openssl does (3F0A..., 3f:0a:...)" },
  { name: "cert", value: "FILE", help: "instead of --serial: the PEM certificate (- for stdin); sends its serial and key id" },
  { name: "authority-key-id", value: "HEX", help: "the issuing CA's key id, hex (default: --cert's, else the service's CA)" },
  { name: "label", value: "LABEL", help: "with --serial and several CAs: the issuing CA's label (default: the service's default CA)" },
  { name: "reason", value: "REASON", help: "keyCompromise, superseded, cessationOfOperation... or the code (default unspecified)" },
  { name: "json", help: "print the revoked certificate's record as JSON instead of a one-line summary" },
  commonFlags.adminTokenFile,
  commonFlags.caFile,
];

const revokeExitCodes =
  "Exit codes: 0 revoked, or already revoked (nothing changed), 1 failed (the service refused: 11200 no such certificate,\n" +
  "13100/13200 the admin token is missing or wrong; could not be reached; --cert cannot be read), 2 bad usage.";

export const revokeHelp = () =>
  renderHelp(
    "certwright revoke --remote URL (--serial SERIAL | --cert FILE) [--authority-key-id HEX] [--label LABEL] [--reason REASON] [--json]\n" +
      "                         [--admin-token-file FILE] [--ca-file FILE]",
    [
      "Revokes a certificate the service issued (POST /api/v1/cfssl/revoke): it is then listed in the CRL and",
      "answered \"revoked\" by OCSP. Prints a one-line summary, or with --json the certificate's record. Revoking a",
      "certificate again keeps the first time and reason and is a success. A service with authentication wants",
      "the admin token: --admin-token-file, or CERTWRIGHT_ADMIN_TOKEN in the environment.",
    ],
    flags,
    revokeExitCodes,
  );

/** An RFC 3339 time without the milliseconds the service's records carry. */
export function shortTime(time: string | null | undefined): string {
  return time ? time.replace(/\.\d+Z$/, "Z") : "-";
}

/** A refusal of the core's parsers (serial, reason) as bad usage of the flag. */
function asUsage<T>(flag: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof CertwrightError) throw new UsageError(`--${flag}: ${error.message.replace(/^\w+: /, "")}`);
    throw error;
  }
}

export async function revokeCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs("revoke", argv, flags);
  if (parsed === "help") {
    console.log(revokeHelp());
    return exitCodes.ok;
  }
  expectPositionals("revoke", parsed.positionals, []);
  const get = (name: string) => parsed.flags.get(name);
  const remote = parseRemote(get("remote"), get("ca-file"));
  const serialFlag = get("serial");
  const certFile = get("cert");
  if ((serialFlag === undefined) === (certFile === undefined)) {
    throw new UsageError(`give the certificate to revoke: --serial SERIAL or --cert FILE${serialFlag !== undefined ? ", not both" : ""}`);
  }
  const reason = get("reason");
  if (reason !== undefined) asUsage("reason", () => parseRevocationReason(reason));
  const token = readAdminToken(get("admin-token-file"), env);

  const request: { serial: string; authority_key_id?: string; label?: string; reason?: string } = { serial: "" };
  let authorityKeyId = get("authority-key-id");
  if (authorityKeyId !== undefined && !/^([0-9a-f]{2})(:?[0-9a-f]{2})*$/i.test(authorityKeyId.trim())) {
    throw new UsageError(`--authority-key-id: "${authorityKeyId}" is not a key id in hex (colons allowed)`);
  }
  if (serialFlag !== undefined) {
    asUsage("serial", () => parseSerial(serialFlag));
    // Sent as typed: the service reads digits as decimal first (cfssl's form), then as hex.
    request.serial = serialFlag.trim();
  } else {
    const pem = await readInput(certFile!, "--cert");
    let ids: CertificateIds;
    try {
      ids = readCertificateIds(pem);
    } catch (error) {
      throw new ClientError(`--cert: ${certFile === "-" ? "stdin" : certFile}: ${(error as Error).message}`);
    }
    // Decimal, as cfssl's revoke takes it, so a cfssl service understands it too.
    request.serial = BigInt(`0x${ids.serialHex}`).toString(10);
    authorityKeyId ??= ids.authorityKeyId;
  }
  if (authorityKeyId !== undefined) request.authority_key_id = authorityKeyId.trim().replace(/:/g, "").toLowerCase();
  const label = get("label");
  if (label !== undefined) request.label = label;
  if (reason !== undefined) request.reason = reason.trim();

  const { result, messages } = await callService<Partial<CertificateSummary> | null>(remote, "revoke", jsonBytes(request), adminHeaders(token));
  const record = result ?? {};
  if (get("json") === "true") {
    printMessages("revoke", messages);
    printJson(record);
    return exitCodes.ok;
  }
  const already = messages.some((m) => /already revoked/i.test(m.message));
  printMessages("revoke", already ? messages.filter((m) => !/already revoked/i.test(m.message)) : messages);
  const serial = record.serial_hex ?? request.serial;
  const names = [record.common_name || record.sans?.[0], record.profile !== undefined ? `profile ${record.profile}` : undefined].filter(Boolean);
  const what = `serial ${serial}${names.length > 0 ? ` (${names.join(", ")})` : ""}`;
  const how = record.reason !== undefined || record.revoked_at ? `: ${record.reason ?? "revoked"} at ${shortTime(record.revoked_at)}` : "";
  process.stdout.write(already ? `already revoked ${what}${how}; nothing changed\n` : `revoked ${what}${how}\n`);
  return exitCodes.ok;
}
