// Flags of the client commands: one spec list per command, parsed by the same parser as `serve`'s
// (`--name value`, `--name=value`, or cfssl's single dash `-name value`), and the help text made
// from the same list.
import { parseFlags, type FlagDefinition, type ParsedFlags } from "../parse-flags.js";
import { UsageError } from "../usage-error.js";

/** A flag as the parser reads it (`value`: the placeholder in the help, absent for a switch), and its line of help. */
export interface FlagSpec extends FlagDefinition {
  help: string;
}

/** The flags several commands share, under cfssl's names where cfssl has one. */
export const commonFlags = {
  remote: { name: "remote", value: "URL", help: "the service: http(s)://HOST:PORT, or HOST:PORT for http (required)" },
  profile: { name: "profile", value: "NAME", help: "signing profile (default: the service's default profile)" },
  label: { name: "label", value: "LABEL", help: "CA label (default: the service's default CA)" },
  hosts: { name: "hosts", value: "LIST", help: "comma-separated DNS names, IPs, emails, URIs: replace the request's SANs", aliases: ["hostname"] },
  authKey: { name: "auth-key", value: "KEY", help: "auth key for authenticated signing: hex, env:VAR or file:PATH" },
  bundle: { name: "bundle", help: "ask for the chain too: prints \"bundle\" (the certificate, then its issuers), which json writes as NAME-bundle.pem" },
  caFile: { name: "ca-file", value: "FILE", help: "PEM CA certificate(s) to verify an https:// service with (default: the system's)" },
  adminTokenFile: { name: "admin-token-file", value: "FILE", help: "file holding the service's admin token (default: $CERTWRIGHT_ADMIN_TOKEN)" },
} satisfies Record<string, FlagSpec>;

/**
 * Parses `argv` against `specs`. Returns "help" for `--help` / `-h`. `--` ends the flags; a lone
 * `-` is a positional (stdin).
 */
export function parseArgs(command: string, argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags | "help" {
  return parseFlags(argv, specs, { command, positionals: true, switchValues: false });
}

/** A command's help: usage, what it does, its flags, and its exit codes. */
export function renderHelp(usage: string, description: string[], specs: readonly FlagSpec[], exitCodes: string): string {
  const lines = specs.map((spec) => {
    // cfssljson's one-letter flags read as they are typed: -f, not --f.
    const names = [spec.name, ...(spec.aliases ?? [])].map((n) => (n.length === 1 ? `-${n}` : `--${n}`)).join(", ");
    return `${`  ${names}${spec.value ? ` ${spec.value}` : ""}`.padEnd(29)} ${spec.help}`;
  });
  return [`Usage: ${usage}`, "", ...description, "", "Flags (also as -name value or --name=value):", ...lines, `${"  --help".padEnd(30)}this help`, "", exitCodes].join("\n");
}

/** `--hosts a,b, c` as a list; empty entries are dropped, so `--hosts ""` clears the SANs as cfssl's `[]`. */
export function splitList(value: string): string[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
}

/** Exactly `count` positionals, or a usage error naming what is missing or extra. */
export function expectPositionals(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`missing ${names.slice(positionals.length).join(" and ")}; see certwright ${command} --help`);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${positionals[names.length]}"; see certwright ${command} --help`);
  }
  return positionals;
}
