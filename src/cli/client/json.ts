// `certwright json`: cfssljson, writing NAME.pem, NAME-key.pem and NAME.csr from a JSON answer.
import { ClientError, exitCodes, ServiceError } from "./errors.js";
import { readInput, writeFileAtomic } from "./files.js";
import { UsageError } from "../usage-error.js";
import { parseArgs, renderHelp, type FlagSpec } from "./flags.js";
import { serviceMessages } from "./http.js";

const flags: FlagSpec[] = [
  { name: "bare", help: "cfssljson's flag for cfssl CLI output; accepted, as the input's shape is recognized either way" },
  { name: "f", value: "FILE", help: "read the JSON from FILE (default -, stdin)" },
  { name: "stdout", help: "print the PEM blocks instead of writing files" },
];

export const jsonHelp = () =>
  renderHelp(
    "certwright json [--bare] [-f FILE] [--stdout] [NAME]",
    [
      "Reads a JSON answer on stdin and writes NAME.pem (the certificate), NAME-key.pem (the private key, mode",
      "0600), NAME.csr and NAME-bundle.pem (the certificate and its issuers: \"bundle\", cfssl's string or the",
      "service's object), each when present, as cfssljson -bare NAME does; NAME defaults to \"cert\". It takes",
      "cfssl's CLI output {\"cert\", \"key\", \"csr\"} (what gencert, sign and initca print), the service's answer",
      "in its envelope {\"success\", \"result\": {\"certificate\", \"private_key\", \"certificate_request\"}}, or the",
      "bare result. An answer with \"success\": false prints its errors and writes nothing. Files are replaced",
      "atomically.",
    ],
    flags,
    "Exit codes: 0 files written, 1 failed (a failed answer, no certificate/key/CSR in the input, not JSON,\na file that cannot be written), 2 bad usage.",
  );

const fields = [
  { names: ["cert", "certificate"], suffix: ".pem", mode: undefined },
  { names: ["key", "private_key"], suffix: "-key.pem", mode: 0o600 },
  { names: ["csr", "certificate_request"], suffix: ".csr", mode: undefined },
] as const;

/** The chain of a "bundle": cfssl's CLI string, or the service's bundle object and its own "bundle" string. */
function bundlePem(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "object" && value !== null) return bundlePem((value as Record<string, unknown>).bundle);
  return undefined;
}

export async function jsonCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs("json", argv, flags);
  if (parsed === "help") {
    console.log(jsonHelp());
    return exitCodes.ok;
  }
  if (parsed.positionals.length > 1) throw new UsageError(`one NAME only, not ${parsed.positionals.join(" ")}; see certwright json --help`);
  const name = parsed.positionals[0] ?? "cert";
  const source = parsed.flags.get("f") ?? "-";
  const text = await readInput(source, "input");
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    const what = text.trim() === "" ? "the input is empty (did the command before the pipe fail?)" : `the input is not JSON (${(error as Error).message})`;
    throw new ClientError(what);
  }
  if (typeof input !== "object" || input === null) throw new ClientError("the input is not a JSON object");
  let result = input as Record<string, unknown>;
  if (typeof result.success === "boolean") {
    if (!result.success) throw new ServiceError("json", serviceMessages(result.errors), 0);
    result = (result.result ?? {}) as Record<string, unknown>;
  }
  const outputs: { path: string; content: string; mode: number | undefined }[] = [];
  const add = (suffix: string, value: string, mode: number | undefined) =>
    outputs.push({ path: `${name}${suffix}`, content: value.endsWith("\n") ? value : `${value}\n`, mode });
  for (const field of fields) {
    const value = field.names.map((n) => result[n]).find((v) => typeof v === "string" && v !== "") as string | undefined;
    if (value !== undefined) add(field.suffix, value, field.mode);
  }
  const bundle = bundlePem(result.bundle);
  if (bundle !== undefined && outputs.length > 0) add("-bundle.pem", bundle, undefined);
  if (outputs.length === 0) {
    throw new ClientError("the input has no certificate, key or CSR (cert/certificate, key/private_key, csr/certificate_request)");
  }
  for (const output of outputs) {
    if (parsed.flags.get("stdout") === "true") process.stdout.write(output.content);
    else writeFileAtomic(output.path, output.content, output.mode === undefined ? {} : { mode: output.mode });
  }
  return exitCodes.ok;
}
