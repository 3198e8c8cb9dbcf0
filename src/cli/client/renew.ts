// `certwright renew`: Kubernetes' rotation (seed 004) for any certificate the service issued.
// Each run draws a renewal point between 70% and 90% of the certificate's lifetime; past it (or
// expired, or --force), a fresh key of the same type and a CSR with the same subject and SANs are
// signed by the service, the pair is replaced atomically (replace-pair.ts), and --exec runs.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { buildCsr } from "../../pki/csr.js";
import { sanList } from "../../pki/hosts.js";
import { generatePrivateKey } from "../../pki/keys.js";
import { readCertificateFacts, type CertificateFacts } from "../../pki/read-certificate.js";
import { UsageError } from "../usage-error.js";
import { readAuthKey } from "./auth.js";
import { ClientError, exitCodes } from "./errors.js";
import { commonFlags, expectPositionals, parseArgs, renderHelp, type FlagSpec } from "./flags.js";
import { parseRemote, type Remote } from "./http.js";
import { lockPair } from "./pair-lock.js";
import type { PairPaths } from "./pair-on-disk.js";
import { commitPair, recoverPair } from "./replace-pair.js";
import { readText } from "./files.js";
import { signCsr, type Output } from "./sign.js";

const flags: FlagSpec[] = [
  { name: "cert", value: "FILE", help: "the certificate to renew (PEM; replaced in place: a link into .certwright/ when --key is beside it)" },
  { name: "key", value: "FILE", help: "its private key (PEM; replaced in place, mode 0600, a link when beside --cert)" },
  commonFlags.remote,
  commonFlags.profile,
  commonFlags.label,
  commonFlags.authKey,
  commonFlags.caFile,
  { name: "exec", value: "CMD", help: "run CMD with /bin/sh after a renewal (e.g. \"systemctl reload nginx\")" },
  { name: "daemon", help: "keep running: sleep until the next renewal point, renew, repeat (SIGTERM stops, exit 0)" },
  { name: "force", help: "renew now, whatever the lifetime left (and replace a key that does not match)" },
  { name: "quiet", help: "print nothing unless something fails" },
];

/** The renewal window, as fractions of the lifetime: Kubernetes' 70-90%. */
export const renewalWindow = { from: 0.7, to: 0.9 } as const;
/** The daemon checks the clock at least this often, so that a suspended machine or a clock jump is noticed. */
const maxSleepMs = 60 * 60 * 1000;
/** A certificate that is due the moment it is issued (lifetime shorter than the backdate) is renewed again no sooner than this. */
const minRenewalIntervalMs = 60 * 1000;
const retryBaseMs = 15 * 1000;
const retryMaxMs = 15 * 60 * 1000;

export const renewHelp = () =>
  renderHelp(
    "certwright renew --cert FILE --key FILE --remote URL [--profile NAME] [--exec CMD] [--daemon] [--force]",
    [
      "Renews a certificate issued by the service once it has passed a point drawn at random, each run,",
      "between 70% and 90% of its lifetime (or has expired, or --force): makes a fresh key of the same type",
      "(ECDSA curve, RSA size, Ed25519) and a CSR with the certificate's subject and SANs, has the service sign",
      "it (authsign with --auth-key), writes the new key and certificate atomically in place, and runs --exec.",
      "When the two files share a directory, the first renewal makes them symbolic links into",
      ".certwright/ next to them (FILE -> .certwright/FILE-current/cert.pem), and every renewal swaps the",
      "pair with one rename of the FILE-current link: a crash at any point leaves the old pair or the new",
      "one, and the next run removes the leftovers. The previous pair is kept until the next renewal; to",
      "go back to plain files: cp -L. When they are in different directories, the new pair is staged",
      "beside the files and renamed in, key then certificate; if a crash stops it between the two",
      "renames, the next run finishes the swap first (and runs --exec). For a systemd timer,",
      "SuccessExitStatus=3 makes \"not due\" a success.",
    ],
    flags,
    "Exit codes: 0 renewed (or an interrupted renewal finished), 3 not due yet (success: nothing to do),\n1 failed (nothing replaced, or --exec failed after the replacement), 2 bad usage. --daemon exits 0 on SIGTERM.",
  );

export interface RenewOptions {
  paths: PairPaths;
  remote: Remote;
  profile: string | undefined;
  label: string | undefined;
  authKey: Buffer | undefined;
  exec: string | undefined;
  daemon: boolean;
  force: boolean;
  quiet: boolean;
  env: NodeJS.ProcessEnv;
}

export function parseRenewOptions(argv: string[], env: NodeJS.ProcessEnv): RenewOptions | "help" {
  const parsed = parseArgs("renew", argv, flags);
  if (parsed === "help") return "help";
  expectPositionals("renew", parsed.positionals, []);
  const get = (name: string) => parsed.flags.get(name);
  const cert = get("cert");
  const key = get("key");
  if (!cert || !key) throw new UsageError("--cert FILE and --key FILE are required: the pair to renew");
  if (resolve(cert) === resolve(key)) throw new UsageError("--cert and --key must be two files");
  const authKey = get("auth-key");
  return {
    paths: { cert, key },
    remote: parseRemote(get("remote"), get("ca-file")),
    profile: get("profile"),
    label: get("label"),
    authKey: authKey === undefined ? undefined : readAuthKey(authKey, env),
    exec: get("exec"),
    daemon: get("daemon") === "true",
    force: get("force") === "true",
    quiet: get("quiet") === "true",
    env,
  };
}

/** notBefore + lifetime × a fraction drawn uniformly from the renewal window. */
export function drawRenewalPoint(notBefore: Date, notAfter: Date, random: () => number = Math.random): { at: Date; fraction: number } {
  const fraction = renewalWindow.from + (renewalWindow.to - renewalWindow.from) * random();
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return { at: new Date(notBefore.getTime() + lifetime * fraction), fraction };
}

function readSummary(path: string): CertificateFacts {
  try {
    return readCertificateFacts(readText(path, "--cert"));
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw new ClientError(`--cert: ${path}: ${(error as Error).message}`);
  }
}

/** The certificates after the first in the old file (an intermediate the service does not send), kept after the new leaf. */
function chainAfterLeaf(pem: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks
    .slice(1)
    .map((block) => `${block}\n`)
    .join("");
}

const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");
const percent = (fraction: number) => `${Math.round(fraction * 100)}%`;

class Renewer {
  private readonly log: (line: string) => void;

  constructor(private readonly options: RenewOptions) {
    this.log = (line) => {
      if (!options.quiet) console.log(`certwright: renew: ${line}`);
    };
  }

  /** Makes the new pair and swaps it in, under the lock. Returns the new certificate. */
  private async replace(summary: CertificateFacts, oldPem: string): Promise<CertificateFacts> {
    const { options } = this;
    const key = await generatePrivateKey(summary.keySpec);
    const csr = buildCsr(summary.subject, summary.sans, key);
    const signed: Output = await signCsr(options.remote, { csr: csr.pem, profile: options.profile, label: options.label, authKey: options.authKey });
    let fresh: CertificateFacts;
    try {
      fresh = readCertificateFacts(signed.cert);
    } catch (error) {
      throw new ClientError(`the service answered with a certificate that cannot be read (${(error as Error).message}); nothing was replaced`);
    }
    if (!Buffer.from(fresh.spki).equals(Buffer.from(key.spki))) {
      throw new ClientError("the service answered with a certificate for another key; nothing was replaced");
    }
    const before = sanList(summary.sans).sort().join(",");
    const after = sanList(fresh.sans).sort().join(",");
    if (before !== after || !Buffer.from(summary.subject.der).equals(Buffer.from(fresh.subject.der))) {
      console.error(`certwright: renew: warning: the new certificate's names differ from the old one's (SANs ${before || "none"} → ${after || "none"}); the profile or the service's rules changed`);
    }
    const certPem = `${signed.cert.trimEnd()}\n${chainAfterLeaf(oldPem)}`;
    commitPair(options.paths, certPem, key.pem);
    return fresh;
  }

  /**
   * One look at the pair: finish an interrupted swap, then renew when due (or forced). Returns
   * whether the pair changed, and the certificate now in place with its drawn renewal point.
   */
  async check(force: boolean, drawn: Map<string, { at: Date; fraction: number }>): Promise<{ renewed: boolean; summary: CertificateFacts }> {
    const { options } = this;
    const release = lockPair(options.paths);
    try {
      const recovery = recoverPair(options.paths);
      let renewed = false;
      if (recovery.state === "completed") {
        this.log(`finished an interrupted renewal: ${options.paths.cert} and ${options.paths.key} are the new pair`);
        renewed = true;
      } else if (recovery.state === "mismatched") {
        if (!force) throw new ClientError(`${recovery.reason}; check --cert and --key, or give --force to replace both with a fresh pair`);
        this.log(`${recovery.reason}; --force: replacing both`);
      } else {
        if (recovery.removedStaged) this.log("removed the staged files of a renewal interrupted before its swap; the pair in place is unchanged");
        if (recovery.finishedLinking) this.log(`finished making ${options.paths.cert} and ${options.paths.key} links into .certwright/ (a renewal was interrupted while converting them); the pair in place is unchanged`);
      }
      const oldPem = readText(options.paths.cert, "--cert");
      const summary = readSummary(options.paths.cert);
      const point = drawn.get(summary.serialHex) ?? drawRenewalPoint(summary.notBefore, summary.notAfter);
      drawn.set(summary.serialHex, point);
      const now = new Date();
      const due = force || recovery.state === "mismatched" || now >= point.at;
      if (!due) return { renewed, summary };
      const why =
        force || recovery.state === "mismatched"
          ? "--force"
          : now >= summary.notAfter
            ? `the old one expired ${iso(summary.notAfter)}`
            : `the old one was past its renewal point ${iso(point.at)}, ${percent(point.fraction)} of its lifetime`;
      const fresh = await this.replace(summary, oldPem);
      // Upper-case hex, as openssl x509 -serial and every other command print serials.
      this.log(`renewed ${options.paths.cert}: serial ${fresh.serialHex.toUpperCase()}, valid ${iso(fresh.notBefore)} to ${iso(fresh.notAfter)} (${why})`);
      return { renewed: true, summary: fresh };
    } finally {
      release();
    }
  }

  /** Runs --exec with /bin/sh, the new files' paths in CERTWRIGHT_CERT and CERTWRIGHT_KEY. */
  async runExec(): Promise<void> {
    const { exec, paths, env } = this.options;
    if (exec === undefined) return;
    const child = spawn("/bin/sh", ["-c", exec], { stdio: ["ignore", "inherit", "inherit"], env: { ...env, CERTWRIGHT_CERT: paths.cert, CERTWRIGHT_KEY: paths.key } });
    const status = await new Promise<string | number>((resolve) => {
      child.once("error", (error) => resolve(error.message));
      child.once("exit", (code, signal) => resolve(code ?? `signal ${signal}`));
    });
    if (status !== 0) {
      throw new ClientError(`--exec "${exec}" failed (${typeof status === "number" ? `exit status ${status}` : status}); the new certificate and key are in place`);
    }
    this.log(`ran --exec "${exec}"`);
  }

  /** When the certificate in place will be due, as the log line of a run that did nothing says it. */
  describeNotDue(summary: CertificateFacts, point: { at: Date; fraction: number }): string {
    return `${this.options.paths.cert} is not due: renewal point ${iso(point.at)} (${percent(point.fraction)} of its lifetime, drawn this run in 70-90%), expires ${iso(summary.notAfter)}; nothing to do`;
  }

  /** A single run: 0 renewed, 3 not due. */
  async once(): Promise<number> {
    const drawn = new Map<string, { at: Date; fraction: number }>();
    const { renewed, summary } = await this.check(this.options.force, drawn);
    if (renewed) {
      await this.runExec();
      return exitCodes.ok;
    }
    this.log(this.describeNotDue(summary, drawn.get(summary.serialHex)!));
    return exitCodes.notDue;
  }

  /** --daemon: renew when due, sleep until the next renewal point, retry failures with backoff; never returns. */
  async daemon(): Promise<never> {
    const drawn = new Map<string, { at: Date; fraction: number }>();
    let force = this.options.force;
    let failures = 0;
    for (;;) {
      let waitMs: number;
      try {
        const { renewed, summary } = await this.check(force, drawn);
        force = false;
        failures = 0;
        // A failed --exec is reported, not retried: the new pair is in place, and renewing again would not help.
        if (renewed) await this.runExec().catch((error: Error) => console.error(`certwright: renew: ${error.message}`));
        const point = drawn.get(summary.serialHex) ?? drawRenewalPoint(summary.notBefore, summary.notAfter);
        drawn.set(summary.serialHex, point);
        waitMs = point.at.getTime() - Date.now();
        if (renewed && waitMs < minRenewalIntervalMs) {
          console.error(`certwright: renew: warning: the new certificate is already at its renewal point (its lifetime is short next to the profile's backdate); next attempt in ${minRenewalIntervalMs / 1000} s`);
          waitMs = minRenewalIntervalMs;
        }
        if (waitMs > 0) this.log(`next renewal of ${this.options.paths.cert} at ${iso(point.at)} (${percent(point.fraction)} of its lifetime)`);
      } catch (error) {
        failures++;
        const backoff = Math.min(retryMaxMs, retryBaseMs * 2 ** (failures - 1)) * (0.8 + 0.4 * Math.random());
        const message = error instanceof Error && "lines" in error ? (error as { lines(): string[] }).lines().join("\n") : `certwright: renew: ${(error as Error).message}`;
        console.error(`${message}\ncertwright: renew: attempt ${failures} failed; trying again in ${Math.round(backoff / 1000)} s`);
        waitMs = backoff;
      }
      // Sleep in slices, so that a suspend or a clock change is caught within the hour.
      const wakeAt = Date.now() + waitMs;
      while (Date.now() < wakeAt) await sleep(Math.min(maxSleepMs, wakeAt - Date.now()));
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function renewCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const options = parseRenewOptions(argv, env);
  if (options === "help") {
    console.log(renewHelp());
    return exitCodes.ok;
  }
  const renewer = new Renewer(options);
  // The commit is synchronous, so these handlers run before it or after it, never inside it.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (options.daemon) {
        if (!options.quiet) console.log(`certwright: renew: ${signal}: stopping`);
        process.exit(exitCodes.ok);
      }
      console.error(`certwright: renew: ${signal}: stopped; the certificate and key are the old pair or the new one, never a mix`);
      process.exit(exitCodes.failed);
    });
  }
  if (options.daemon) return renewer.daemon();
  return renewer.once();
}
