#!/usr/bin/env node
// Sign throughput with the CA key in SoftHSM2 beside the same key in a file: `npm run build && node bench/pkcs11.mjs`.
//
// For each key type (KEYS, default "ec-256 rsa-2048"), one SoftHSM2 token in a throwaway directory
// holds a key made by openssl, and a CA certificate is made from the same key. The built service is
// started twice with that CA, once with --ca-key FILE and once with --ca-key pkcs11:…, and loaded
// with wrk on /sign (1 thread, CONNECTIONS connections, DURATION a case, after a 2 s warm-up).
// Prints requests/s and latency percentiles for each. Needs softhsm2-util, openssl and wrk on PATH;
// SOFTHSM_MODULE names libsofthsm2.so when it is not where Debian puts it.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const mainJs = join(root, "dist", "service", "main.cjs");
const postLua = join(root, "bench", "post.lua");
const DURATION = process.env.DURATION || "10s";
const CONNECTIONS = Number(process.env.CONNECTIONS || 64);
const KEYS = (process.env.KEYS || "ec-256 rsa-2048").split(/\s+/).filter(Boolean);
const moduleCandidates = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"];
const module = process.env.SOFTHSM_MODULE || moduleCandidates.find((path) => existsSync(path));

function usage(message) {
  console.error(`bench/pkcs11: ${message}`);
  process.exit(2);
}
for (const tool of ["wrk", "openssl", "softhsm2-util"]) {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
  } catch {
    usage(`${tool} is missing (apt-get install -y ${tool === "softhsm2-util" ? "softhsm2" : tool})`);
  }
}
if (!module) usage("libsofthsm2.so not found; set SOFTHSM_MODULE");
if (!existsSync(mainJs)) usage("dist/service/main.cjs is missing: run npm run build first");
const keyOptions = {
  "ec-256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec-384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
  "rsa-2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
};
for (const key of KEYS) if (!keyOptions[key]) usage(`KEYS: "${key}" is not one of ${Object.keys(keyOptions).join(", ")}`);

const tmp = mkdtempSync(join(tmpdir(), "certwright-bench-pkcs11-"));
let server;
const cleanUp = () => {
  server?.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
};
process.on("exit", cleanUp);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

const run = (command, args, env = process.env) => execFileSync(command, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

async function freePort() {
  const probe = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => probe.once("listening", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function startServer(args, env) {
  const port = await freePort();
  const child = spawn(process.execPath, [mainJs, "serve", "--port", String(port), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  server = child;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited: ${stderr}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/v1/cfssl/health`)).ok) return { child, port };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the service did not answer: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stopServer(child) {
  child.kill("SIGTERM");
  await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve)));
  server = undefined;
}

const UNIT = { us: 1e-3, ms: 1, s: 1e3 };
function wrk(port, duration, body) {
  const args = ["-t1", `-c${CONNECTIONS}`, `-d${duration}`, "--latency", "-s", postLua, `http://127.0.0.1:${port}/api/v1/cfssl/sign`];
  const out = run("wrk", args, { ...process.env, BODY: body });
  const latency = {};
  for (const m of out.matchAll(/^\s*(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$/gm)) latency[m[1]] = Number(m[2]) * UNIT[m[3]];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]), ...latency, non2xx, command: `BODY=sign.json wrk ${args.join(" ").replace(postLua, "bench/post.lua")}` };
}

const csrKey = join(tmp, "client-key.pem");
run("openssl", ["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", csrKey]);
const csr = run("openssl", ["req", "-new", "-key", csrKey, "-subj", "/CN=bench.client"]);
const body = join(tmp, "sign.json");
writeFileSync(body, JSON.stringify({ certificate_request: csr, profile: "client" }));

console.log(`sign throughput, CA key in a file vs in SoftHSM2 (${module}); wrk -t1 -c${CONNECTIONS} -d${DURATION}, after a 2 s warm-up`);
console.log(`${"key".padEnd(10)} ${"CA key".padEnd(8)} ${"req/s".padStart(8)} ${"p50 ms".padStart(8)} ${"p90 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"non-2xx".padStart(8)}`);
let command;
for (const key of KEYS) {
  const dir = join(tmp, key);
  mkdirSync(join(dir, "tokens"), { recursive: true });
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  run("softhsm2-util", ["--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "5678"], { ...process.env, ...env });
  const keyFile = join(dir, "ca-key.pem");
  run("openssl", ["genpkey", ...keyOptions[key], "-out", keyFile]);
  run("openssl", ["pkcs8", "-topk8", "-nocrypt", "-in", keyFile, "-out", join(dir, "ca-key.p8")]);
  run("softhsm2-util", ["--import", join(dir, "ca-key.p8"), "--token", "bench", "--label", "ca", "--id", "01", "--pin", "1234"], { ...process.env, ...env });
  const caFile = join(dir, "ca.pem");
  run("openssl", ["req", "-x509", "-new", "-key", keyFile, "-subj", `/CN=bench ${key}`, "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", caFile]);
  writeFileSync(join(dir, "pin"), "1234\n");
  const cases = {
    file: ["--ca-key", keyFile],
    softhsm: ["--ca-key", "pkcs11:token=bench;object=ca", "--pkcs11-module", module, "--pkcs11-pin-file", join(dir, "pin")],
  };
  for (const [name, keyArgs] of Object.entries(cases)) {
    const { child, port } = await startServer(["--data-dir", join(dir, `data-${name}`), "--ca", caFile, ...keyArgs, "--log-level", "warn"], env);
    wrk(port, "2s", body);
    const result = wrk(port, DURATION, body);
    command = result.command;
    console.log(`${key.padEnd(10)} ${name.padEnd(8)} ${result.rps.toFixed(0).padStart(8)} ${result["50"].toFixed(2).padStart(8)} ${result["90"].toFixed(2).padStart(8)} ${result["99"].toFixed(2).padStart(8)} ${String(result.non2xx).padStart(8)}`);
    await stopServer(child);
  }
}
console.log(`each case: ${command}`);
