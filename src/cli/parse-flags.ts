// The one flag parser of the command line: node:util's parseArgs reads argv, and this maps what it
// read onto the flags a command declares, with the messages users and tests know.
import { parseArgs } from "node:util";
import { UsageError } from "./usage-error.js";

export interface FlagDefinition {
  name: string;
  /** The value's placeholder (`URL`, `FILE`); absent or empty for a switch. */
  value?: string;
  /** Other names the flag answers to. */
  aliases?: readonly string[];
}

export interface ParseFlagsOptions {
  /** Named in the errors: "see certwright <command> --help". */
  command: string;
  /**
   * Accept positional arguments (a lone `-` among them; `--` ends the flags). Without, each is an
   * unexpected argument, as are `--` and anything not shaped like a flag.
   */
  positionals: boolean;
  /** Switches keep the value of `--name=VALUE` for the caller to check; otherwise only `=true` is accepted. */
  switchValues: boolean;
}

export interface ParsedFlags {
  /** Flag values by name (an alias is stored under the flag's name); a switch given alone is "true". */
  flags: Map<string, string>;
  positionals: string[];
}

/** `--name`, `-name` (cfssl's single dash), with or without `=value`. */
const flagShape = /^--?[a-z][a-z0-9-]*(?:=.*)?$/s;

/**
 * Parses `argv` as `--name value`, `--name=value`, or cfssl's single-dash `-name value`. Returns
 * "help" for `--help` / `-h` met before any error. The last of a repeated flag wins.
 */
export function parseFlags(argv: readonly string[], definitions: readonly FlagDefinition[], options: ParseFlagsOptions): ParsedFlags | "help" {
  const byName = new Map<string, FlagDefinition>();
  for (const definition of definitions) {
    for (const name of [definition.name, ...(definition.aliases ?? [])]) byName.set(name, definition);
  }
  const seeHelp = `see certwright ${options.command} --help`;
  // parseArgs reads a single dash as short options, so cfssl's form is given to it with two. Each
  // argument stays at its index, so what it read is taken back from `argv` by index: a value or a
  // positional written `-x` stays `-x`.
  const { tokens } = parseArgs({
    args: argv.map((arg) => (flagShape.test(arg) && !arg.startsWith("--") ? `-${arg}` : arg)),
    options: Object.fromEntries([...byName].map(([name, definition]) => [name, { type: definition.value ? "string" : "boolean" }] as const)),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flags = new Map<string, string>();
  const positionals: string[] = [];
  for (const token of tokens) {
    const arg = argv[token.index]!;
    if (token.kind === "option-terminator" || token.kind === "positional") {
      if (!options.positionals) throw new UsageError(`unexpected argument "${arg}"; ${seeHelp}`);
      if (token.kind === "positional") positionals.push(arg);
      continue;
    }
    if (!flagShape.test(arg)) throw new UsageError(`${options.positionals ? "unknown flag" : "unexpected argument"} "${arg}"; ${seeHelp}`);
    if (token.name === "help" || token.name === "h") return "help";
    const definition = byName.get(token.name);
    if (!definition) throw new UsageError(`unknown flag "${arg}"; ${seeHelp}`);
    if (!definition.value) {
      if (token.inlineValue && token.value !== "true" && !options.switchValues) throw new UsageError(`--${definition.name} takes no value`);
      flags.set(definition.name, token.value ?? "true");
      continue;
    }
    if (token.value === undefined) throw new UsageError(`flag --${definition.name} needs a value (${definition.value})`);
    flags.set(definition.name, token.inlineValue ? token.value : argv[token.index + 1]!);
  }
  return { flags, positionals };
}
