// `certwright sign`: a CSR made elsewhere, signed by the service (`cfssl sign -remote`).
import { authSignEnvelope, readAuthKey } from "./auth.js";
import { ClientError, clientExitCodes, exitCodes } from "./errors.js";
import { readInput } from "./files.js";
import { commonFlags, expectPositionals, parseArgs, renderHelp, splitList, type FlagSpec } from "./flags.js";
import { callService, jsonBytes, parseRemote, type Remote } from "./http.js";
import { printJson, printMessages } from "./output.js";

const flags: FlagSpec[] = [commonFlags.remote, commonFlags.profile, commonFlags.label, commonFlags.hosts, commonFlags.authKey, commonFlags.bundle, commonFlags.caFile];

export const signHelp = () =>
  renderHelp(
    "certwright sign --remote URL [--profile NAME] [--hosts LIST] [--auth-key KEY] [--bundle] [--ca-file FILE] CSR.pem",
    [
      "Has the service sign a PEM CSR (- reads stdin) and prints cfssl's {\"cert\": …}, for certwright json (or",
      "cfssljson -bare). The CSR's SANs are kept unless --hosts replaces them. With --auth-key the request goes",
      "to authsign as cfssl's client sends it: the base64 sign request and its HMAC-SHA256 under the key.",
    ],
    flags,
    clientExitCodes,
  );

/** What a client command prints: cfssl's CLI shape. */
export interface Output {
  cert: string;
  csr?: string;
  key?: string;
  /** The certificate and its issuers up to the root, left out (cfssl's bundle.bundle), when asked for. */
  bundle?: string;
}

export interface SignParams {
  csr: string;
  profile: string | undefined;
  label: string | undefined;
  hosts?: string[] | undefined;
  authKey: Buffer | undefined;
  /** Ask for cfssl's bundle; default: no. */
  bundle?: boolean;
}

/** POSTs sign, or authsign with an auth key; returns the certificate. */
export async function signCsr(remote: Remote, params: SignParams): Promise<Output> {
  const request: Record<string, unknown> = { certificate_request: params.csr };
  if (params.hosts !== undefined) request.hosts = params.hosts;
  if (params.profile !== undefined) request.profile = params.profile;
  if (params.label !== undefined) request.label = params.label;
  if (params.bundle) request.bundle = true;
  const endpoint = params.authKey ? "authsign" : "sign";
  const body = params.authKey ? jsonBytes(authSignEnvelope(params.authKey, jsonBytes(request))) : jsonBytes(request);
  const { result, messages } = await callService<{ certificate: string; bundle?: { bundle: string } }>(remote, endpoint, body);
  printMessages(endpoint, messages);
  return { cert: result.certificate, ...(result.bundle ? { bundle: result.bundle.bundle } : {}) };
}

export async function signCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs("sign", argv, flags);
  if (parsed === "help") {
    console.log(signHelp());
    return exitCodes.ok;
  }
  const [csrFile] = expectPositionals("sign", parsed.positionals, ["CSR.pem"]);
  const get = (name: string) => parsed.flags.get(name);
  const remote = parseRemote(get("remote"), get("ca-file"));
  const authKey = get("auth-key") === undefined ? undefined : readAuthKey(get("auth-key")!, env);
  const csr = await readInput(csrFile!, "CSR");
  if (!csr.includes("CERTIFICATE REQUEST-----")) {
    throw new ClientError(`${csrFile}: no PEM "CERTIFICATE REQUEST" block; sign takes a CSR (for a CSR JSON, use gencert)`);
  }
  const hosts = get("hosts");
  const output = await signCsr(remote, { csr, profile: get("profile"), label: get("label"), hosts: hosts === undefined ? undefined : splitList(hosts), authKey, bundle: get("bundle") === "true" });
  printJson(output);
  return exitCodes.ok;
}
