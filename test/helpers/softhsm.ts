// A throwaway SoftHSM2 token for a test: its own token directory and config (SOFTHSM2_CONF), a key
// made by openssl and imported with softhsm2-util, and a CA certificate for that key. It uses
// Debian's softhsm2 package; on a machine without it the tests that need it are skipped, unless
// CERTWRIGHT_REQUIRE_SOFTHSM=1 (CI) makes that a failure.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./server.js";

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** Where Debian's softhsm2 package puts the module (and the other usual places). */
const modulePaths = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"];

/** The SoftHSM2 module: $CERTWRIGHT_SOFTHSM_MODULE, or the first of the usual places; undefined when it is not there. */
export const softhsmModule: string | undefined = (process.env.CERTWRIGHT_SOFTHSM_MODULE ? [process.env.CERTWRIGHT_SOFTHSM_MODULE] : modulePaths).find((path) => existsSync(path));

const haveUtil = spawnSync("softhsm2-util", ["--version"]).status === 0;

/** Why SoftHSM2 tests cannot run here (false: they can). */
export const softhsmSkip: string | false =
  softhsmModule && haveUtil ? false : process.env.CERTWRIGHT_REQUIRE_SOFTHSM === "1" ? false : "SoftHSM2 is not installed (apt-get install softhsm2); its tests were skipped";

export type HsmKeyType = "ec-256" | "ec-384" | "rsa-2048";

export interface SoftHsmToken {
  /** The module's shared library. */
  module: string;
  /** The directory holding the token, its config and the files below. */
  dir: string;
  /** The environment every process using the token needs: SOFTHSM2_CONF. */
  env: Record<string, string>;
  token: string;
  label: string;
  /** A file holding the user PIN (softhsmPin). */
  pinFile: string;
  /** The CA certificate for the key (PEM file), made by openssl with the same key. */
  caFile: string;
  /** The same key as a PEM file, to compare with a file key. */
  keyFile: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { encoding: "utf8", env });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr || result.stdout}`);
  return result.stdout;
}

const keyOptions: Record<HsmKeyType, string[]> = {
  "ec-256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec-384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
  "rsa-2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
};

/**
 * The tokens' user PIN: letters and digits no log line holds by chance (a PIN of digits alone turns
 * up in timestamps, serials and response times), so a test can look for it in the logs.
 */
export const softhsmPin = "pin-Qx7wKz";

/**
 * Makes a token labelled `token` (user PIN softhsmPin, SO PIN 5678) in a temporary directory, with a
 * private key labelled `label` (id 01) of the given type and a CA certificate for it.
 */
export function makeSoftHsmToken(t: Teardown, type: HsmKeyType, token = "certwright-test", label = "ca-key"): SoftHsmToken {
  if (!softhsmModule || !haveUtil) throw new Error("SoftHSM2 is required (CERTWRIGHT_REQUIRE_SOFTHSM=1) but was not found: apt-get install softhsm2");
  const dir = tempDir(t, "certwright-softhsm-");
  const tokens = join(dir, "tokens");
  mkdirSync(tokens);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  const withConf = { ...process.env, ...env };
  run("softhsm2-util", ["--init-token", "--free", "--label", token, "--pin", softhsmPin, "--so-pin", "5678"], withConf);
  const keyFile = join(dir, "ca-key.pem");
  run("openssl", ["genpkey", ...keyOptions[type], "-out", keyFile]);
  const pkcs8 = join(dir, "ca-key.p8");
  run("openssl", ["pkcs8", "-topk8", "-nocrypt", "-in", keyFile, "-out", pkcs8]);
  run("softhsm2-util", ["--import", pkcs8, "--token", token, "--label", label, "--id", "01", "--pin", softhsmPin], withConf);
  const caFile = join(dir, "ca.pem");
  run("openssl", [
    "req", "-x509", "-new", "-key", keyFile, "-subj", `/CN=HSM test CA ${type}`, "-days", "30",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", caFile,
  ]);
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, `${softhsmPin}\n`, { mode: 0o600 });
  return { module: softhsmModule, dir, env, token, label, pinFile, caFile, keyFile };
}
