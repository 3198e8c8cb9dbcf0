// `certwright initca`: a CA made here, with no service (`cfssl gencert -initca`).
import { initCa } from "../../authority/init-ca.js";
import { buildCsr } from "../../pki/csr.js";
import { splitHosts } from "../../pki/hosts.js";
import { encryptKeyPem } from "../../pki/key-encryption.js";
import { loadPrivateKey } from "../../pki/keys.js";
import { buildName, subjectFieldsFromRequest } from "../../pki/subject.js";
import { csrRequestSchema } from "../../schemas/wire.js";
import { ClientError, exitCodes } from "./errors.js";
import { readInput, readText } from "./files.js";
import { expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./flags.js";
import { printJson } from "./output.js";

const flags: FlagSpec[] = [
  {
    name: "encrypt-key",
    value: "FILE",
    help: "print the key encrypted (PKCS#8, AES-256) with the passphrase on the first line of FILE; serve it with --ca-key-passphrase-file FILE",
  },
];

export const initcaHelp = () =>
  renderHelp(
    "certwright initca CSR.json",
    [
      "Makes a self-signed CA from a cfssl CSR JSON (- reads stdin) on this machine, no service needed, and",
      "prints cfssl's {\"cert\", \"csr\", \"key\"}: pipe it to certwright json --bare ca (or cfssljson -bare ca).",
      "The key is ECDSA P-256 unless \"key\" says otherwise; \"ca\": {\"expiry\", \"pathlen\", \"pathlenzero\"} as in",
      "cfssl (default lifetime 43800h, five years). Serve with it: certwright serve --ca ca.pem --ca-key ca-key.pem.",
    ],
    flags,
    "Exit codes: 0 success, 1 failed (the CSR JSON cannot be read or is refused), 2 bad usage.",
  );

export async function initcaCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs("initca", argv, flags);
  if (parsed === "help") {
    console.log(initcaHelp());
    return exitCodes.ok;
  }
  const [csrFile] = expectPositionals("initca", parsed.positionals, ["CSR.json"]);
  const passphraseFile = parsed.flags.get("encrypt-key");
  const passphrase = passphraseFile === undefined ? undefined : readText(passphraseFile, "--encrypt-key").split(/\r?\n/)[0]!;
  if (passphrase === "") throw new ClientError(`--encrypt-key ${passphraseFile}: the file is empty; put the passphrase on its first line`);
  const text = await readInput(csrFile!, "CSR JSON");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ClientError(`${csrFile}: not JSON (${(error as Error).message})`);
  }
  const checked = csrRequestSchema.safeParse(json);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new ClientError(`${csrFile}: ${issue.path.join(".") || "the document"}: ${issue.message}`);
  }
  const request = checked.data;
  const { certificate, private_key } = await initCa(request, new Date());
  // cfssl prints the CA's CSR too (to have the CA cross-signed or signed by a parent later).
  const key = loadPrivateKey(private_key);
  const csr = buildCsr(buildName(subjectFieldsFromRequest({ CN: request.CN, names: request.names })), splitHosts(request.hosts ?? []), key);
  printJson({ cert: certificate, csr: csr.pem, key: passphrase === undefined ? private_key : encryptKeyPem(private_key, passphrase) });
  return exitCodes.ok;
}
