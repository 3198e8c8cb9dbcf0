// `certwright info`: the service's CA certificate, to hand to clients.
import { clientExitCodes, exitCodes } from "./errors.js";
import { writeFileAtomic } from "./files.js";
import { commonFlags, expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./flags.js";
import { callService, jsonBytes, parseRemote } from "./http.js";
import { printJson, printMessages } from "./output.js";

const flags: FlagSpec[] = [
  commonFlags.remote,
  commonFlags.label,
  { name: "profile", value: "NAME", help: "the profile whose usages and expiry --json shows (default: the default profile)" },
  { name: "out", value: "FILE", help: "write the CA certificate to FILE (atomically) instead of printing it" },
  { name: "json", help: "print cfssl's info result ({\"certificate\", \"usages\", \"expiry\"}) instead of the PEM" },
  commonFlags.caFile,
];

export const infoHelp = () =>
  renderHelp(
    "certwright info --remote URL [--label LABEL] [--profile NAME] [--out FILE | --json] [--ca-file FILE]",
    ["Prints the service's CA certificate (PEM), or writes it to --out, for distribution to clients and trust stores."],
    flags,
    clientExitCodes,
  );

export async function infoCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs("info", argv, flags);
  if (parsed === "help") {
    console.log(infoHelp());
    return exitCodes.ok;
  }
  expectPositionals("info", parsed.positionals, []);
  const get = (name: string) => parsed.flags.get(name);
  const remote = parseRemote(get("remote"), get("ca-file"));
  const request: Record<string, string> = {};
  if (get("label") !== undefined) request.label = get("label")!;
  if (get("profile") !== undefined) request.profile = get("profile")!;
  const { result, messages } = await callService<{ certificate: string }>(remote, "info", jsonBytes(request));
  printMessages("info", messages);
  const pem = `${result.certificate.trimEnd()}\n`;
  const out = get("out");
  if (out !== undefined) writeFileAtomic(out, pem);
  else if (get("json") === "true") printJson(result);
  else process.stdout.write(pem);
  return exitCodes.ok;
}
