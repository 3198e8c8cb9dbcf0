// `certwright gencert`: key, CSR and certificate from a CSR JSON, made by the service's newcert
// (`cfssl gencert -remote`, with the key made by the service as curl's newcert does).
import { UsageError } from "../usage-error.js";
import { hmacAuthorization, readAuthKey } from "./auth.js";
import { ClientError, clientExitCodes, exitCodes } from "./errors.js";
import { readInput } from "./files.js";
import { commonFlags, expectPositionals, parseArgs, renderHelp, splitList, type FlagSpec } from "./flags.js";
import { callService, jsonBytes, parseRemote } from "./http.js";
import { printJson, printMessages } from "./output.js";

const flags: FlagSpec[] = [
  commonFlags.remote,
  commonFlags.profile,
  commonFlags.label,
  commonFlags.hosts,
  commonFlags.authKey,
  { name: "auth-key-name", value: "NAME", help: "with --auth-key: the key's name in the service's auth_keys (the profile's auth_key)" },
  commonFlags.bundle,
  commonFlags.caFile,
];

export const gencertHelp = () =>
  renderHelp(
    "certwright gencert --remote URL [--profile NAME] [--hosts LIST] [--auth-key KEY --auth-key-name NAME] [--bundle] [--ca-file FILE] CSR.json",
    [
      "Has the service make a key, a CSR and a certificate from a cfssl CSR JSON (- reads stdin) under a",
      "profile, and prints cfssl's {\"cert\", \"csr\", \"key\"}: pipe it to certwright json --bare NAME (or",
      "cfssljson -bare NAME). --hosts replaces the JSON's hosts. With --auth-key, the request carries",
      "\"Authorization: CFSSL-HMAC NAME:<HMAC-SHA256 of the body>\"; NAME is the key's name in the service's",
      "auth_keys, which the profile's auth_key names.",
    ],
    flags,
    clientExitCodes,
  );

export async function gencertCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs("gencert", argv, flags);
  if (parsed === "help") {
    console.log(gencertHelp());
    return exitCodes.ok;
  }
  const [csrFile] = expectPositionals("gencert", parsed.positionals, ["CSR.json"]);
  const get = (name: string) => parsed.flags.get(name);
  const remote = parseRemote(get("remote"), get("ca-file"));
  const keyName = get("auth-key-name");
  const authKey = get("auth-key") === undefined ? undefined : readAuthKey(get("auth-key")!, env);
  if (authKey && !keyName) {
    throw new UsageError("--auth-key needs --auth-key-name NAME, the key's name in the service's auth_keys (the profile's auth_key)");
  }
  if (keyName && !authKey) throw new UsageError("--auth-key-name goes with --auth-key");
  const text = await readInput(csrFile!, "CSR JSON");
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch (error) {
    throw new ClientError(`${csrFile}: not JSON (${(error as Error).message}); gencert takes a cfssl CSR JSON such as {"CN": "…", "hosts": […]}`);
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw new ClientError(`${csrFile}: a CSR JSON is an object such as {"CN": "…", "hosts": […]}`);
  }
  const hosts = get("hosts");
  const csrJson = hosts === undefined ? request : { ...request, hosts: splitList(hosts) };
  const payload: Record<string, unknown> = { request: csrJson };
  if (get("profile") !== undefined) payload.profile = get("profile");
  if (get("label") !== undefined) payload.label = get("label");
  if (get("bundle") === "true") payload.bundle = true;
  const body = jsonBytes(payload);
  const headers: Record<string, string> = authKey ? { authorization: hmacAuthorization(keyName!, authKey, body) } : {};
  const { result, messages } = await callService<{ certificate: string; certificate_request: string; private_key: string; bundle?: { bundle: string } }>(
    remote,
    "newcert",
    body,
    headers,
  );
  printMessages("newcert", messages);
  // cfssljson writes a string "bundle" as NAME-bundle.pem, as certwright json does.
  printJson({ cert: result.certificate, csr: result.certificate_request, key: result.private_key, ...(result.bundle ? { bundle: result.bundle.bundle } : {}) });
  return exitCodes.ok;
}
