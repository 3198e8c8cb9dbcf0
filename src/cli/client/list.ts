// `certwright list`: the service's inventory (GET /api/v1/certificates), filtered, as a table for
// people or JSON lines for scripts; `--all` follows the cursors to the last page.
import { parseDuration } from "../../profiles/duration.js";
import type { CertificateSummary } from "../../schemas/wire.js";
import { UsageError } from "../usage-error.js";
import { adminHeaders, readAdminToken } from "./auth.js";
import { ClientError, exitCodes } from "./errors.js";
import { commonFlags, expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./flags.js";
import { getService, parseRemote } from "./http.js";
import { printJson, printMessages } from "./output.js";
import { shortTime } from "./revoke.js";

const flags: FlagSpec[] = [
  commonFlags.remote,
  { name: "status", value: "STATUS", help: "good, revoked, or expired (not revoked and past its NotAfter)" },
  { name: "expiring-within", value: "DURATION", help: "unexpired and ending within 30d, 720h... (what needs renewing)" },
  { name: "profile", value: "NAME", help: "issued under this profile" },
  { name: "label", value: "LABEL", help: "issued by the CA with this label" },
  { name: "q", value: "TEXT", help: "the CN or a SAN contains TEXT (any case)" },
  { name: "issued-after", value: "TIME", help: "issued after this RFC 3339 time or date (2026-01-31)" },
  { name: "issued-before", value: "TIME", help: "issued before this RFC 3339 time or date" },
  { name: "limit", value: "N", help: "page size, 1 to 1000 (default: the service's, 100)" },
  { name: "all", help: "follow the pages to the end (with --limit as the page size)" },
  { name: "json", help: "one JSON record per line (JSON lines) instead of the table" },
  commonFlags.adminTokenFile,
  commonFlags.caFile,
];

const listExitCodes =
  "Exit codes: 0 success (nothing matching too), 1 failed (the service refused: 13100/13200 the admin token is missing\n" +
  "or wrong; could not be reached), 2 bad usage.";

export const listHelp = () =>
  renderHelp(
    "certwright list --remote URL [--status good|revoked|expired] [--expiring-within DURATION] [--profile NAME]\n" +
      "                       [--label LABEL] [--q TEXT] [--issued-after TIME] [--issued-before TIME] [--limit N] [--all]\n" +
      "                       [--json] [--admin-token-file FILE] [--ca-file FILE]",
    [
      "Lists the certificates the service issued, newest first (GET /api/v1/certificates); the filters combine.",
      "Prints a table (serial in hex as openssl prints it, status, NotAfter, profile, CN, SANs), or with --json one",
      "record per line. One page unless --all; when more match, stderr says so. What expires in the next 30 days",
      "(add --status good to leave out the revoked ones):",
      "  certwright list --remote URL --expiring-within 30d",
      "A service with authentication wants the admin token: --admin-token-file, or CERTWRIGHT_ADMIN_TOKEN.",
    ],
    flags,
    listExitCodes,
  );

/** The flags sent as query parameters, by their names on the wire. */
const queryNames: [flag: string, parameter: string][] = [
  ["status", "status"],
  ["profile", "profile"],
  ["label", "label"],
  ["q", "q"],
  ["expiring-within", "expiring_within"],
  ["issued-after", "issued_after"],
  ["issued-before", "issued_before"],
  ["limit", "limit"],
];

function checkFlags(get: (name: string) => string | undefined): void {
  const status = get("status");
  if (status !== undefined && !["good", "revoked", "expired"].includes(status)) {
    throw new UsageError(`--status: "${status}" is not good, revoked or expired`);
  }
  const within = get("expiring-within");
  if (within !== undefined && !((parseDuration(within) ?? 0) > 0)) {
    throw new UsageError(`--expiring-within: "${within}" is not a duration; write it as 30d, 720h or 1y`);
  }
  for (const name of ["issued-after", "issued-before"]) {
    const time = get(name);
    if (time !== undefined && (!/^\d{4}-\d{2}-\d{2}/.test(time) || Number.isNaN(new Date(time).getTime()))) {
      throw new UsageError(`--${name}: "${time}" is not a time; write it as RFC 3339, e.g. 2026-11-24T00:00:00Z, or a date, 2026-11-24`);
    }
  }
  const limit = get("limit");
  if (limit !== undefined && (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000)) {
    throw new UsageError(`--limit: "${limit}" is not a page size from 1 to 1000`);
  }
  if (get("q") === "") throw new UsageError("--q: give the text to look for in the CN and SANs");
}

/** The records as a table with a header, columns padded to their widest entry. */
export function renderTable(records: Partial<CertificateSummary>[]): string {
  const rows = [
    ["SERIAL", "STATUS", "NOT AFTER", "PROFILE", "CN", "SANS"],
    ...records.map((r) => [
      r.serial_hex ?? r.serial_number ?? "-",
      r.status ?? "-",
      shortTime(r.not_after),
      r.profile || "-",
      r.common_name || "-",
      (r.sans ?? []).join(",") || "-",
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
  return `${lines.join("\n")}\n`;
}

interface Page {
  /** Partial: the wire type, read as another process's JSON (an older service's too) whose fields may be missing. */
  certificates: Partial<CertificateSummary>[];
  next_cursor: string | null;
}

export async function listCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs("list", argv, flags);
  if (parsed === "help") {
    console.log(listHelp());
    return exitCodes.ok;
  }
  expectPositionals("list", parsed.positionals, []);
  const get = (name: string) => parsed.flags.get(name);
  const remote = parseRemote(get("remote"), get("ca-file"));
  checkFlags(get);
  const headers = adminHeaders(readAdminToken(get("admin-token-file"), env));
  const query = new URLSearchParams();
  for (const [flag, parameter] of queryNames) {
    const value = get(flag);
    if (value !== undefined) query.set(parameter, value);
  }

  // Every page is read before anything is printed: a failure on a later page prints nothing on stdout.
  const records: Partial<CertificateSummary>[] = [];
  const seen = new Set<string>();
  let more: string | null = null;
  for (;;) {
    const { result, messages } = await getService<Page>(remote, "/api/v1/certificates", "certificates", query, headers);
    printMessages("certificates", messages);
    if (!Array.isArray(result?.certificates)) throw new ClientError(`${remote.base.origin} answered the inventory without a certificates list; is --remote a certwright service?`);
    records.push(...result.certificates);
    more = typeof result.next_cursor === "string" && result.next_cursor !== "" ? result.next_cursor : null;
    if (more === null || get("all") !== "true") break;
    if (seen.has(more)) throw new ClientError(`${remote.base.origin} answered the same cursor twice; the listing stopped after ${records.length} certificates`);
    seen.add(more);
    query.set("cursor", more);
  }

  if (get("json") === "true") {
    for (const record of records) printJson(record);
  } else if (records.length > 0) {
    process.stdout.write(renderTable(records));
  } else {
    console.error("certwright: list: no certificate matches");
  }
  if (more !== null && get("all") !== "true") {
    console.error(`certwright: list: more certificates match beyond this page of ${records.length}; --all lists them all`);
  }
  return exitCodes.ok;
}
