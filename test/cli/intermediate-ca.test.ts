// An intermediate CA end to end on the real service: --ca-bundle checked at start, cfssl's bundle
// in the answers, and the independent verifiers (openssl verify, node's TLS, openssl crl and
// ocsp) accepting the leaf with a root-only trust store.
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type Server } from "node:tls";
import t from "tap";
import { caChain, type ChainCa } from "../helpers/chain-ca.js";
import { client } from "../helpers/client.js";
import { datedCa, datedIntermediate } from "../helpers/dated-ca.js";
import { testCa } from "../helpers/revocation-ca.js";
import { defaultKeySpec } from "../../src/pki/keys.js";
import { childEnv, freePort, mainJs, mustOpenssl, openssl, postJson, runCli, serveArgs, startService, subjectKeyId, tempDir, writeFile, oneLine } from "../helpers/server.js";
import { opensslAsync } from "../helpers/service-checks.js";

/** The PEM certificates of a text, each with its newline. */
function pems(text: string): string[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((pem) => `${pem}\n`);
}

/** Writes each CA's certificate and key, and returns the files. */
function writeCas(dir: string, cas: ChainCa[]) {
  return cas.map((ca, level) => ({ cert: writeFile(dir, `ca${level}.pem`, ca.pem), key: writeFile(dir, `ca${level}-key.pem`, ca.keyPem) }));
}

/** Whether node's TLS client, trusting only `rootPem`, accepts a server presenting `certChain` for localhost. */
async function handshake(t: { teardown(fn: () => void): void }, keyPem: string, certChain: string, rootPem: string): Promise<{ authorized: boolean; error?: string }> {
  const server: Server = createServer({ key: keyPem, cert: certChain }, (socket) => socket.end("hello"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ca: rootPem }, () => {
      resolve({ authorized: socket.authorized });
      socket.destroy();
    });
    socket.on("error", (error) => resolve({ authorized: false, error: error.message }));
  });
}

t.test("one intermediate: bundle, openssl verify, TLS, CRL and OCSP with a root-only trust store", async (t) => {
  const cwd = tempDir(t);
  const [root, int1] = await caChain(1);
  const [rootFiles, intFiles] = writeCas(cwd, [root!, int1!]);
  const rootAndInt = writeFile(cwd, "root-and-int.pem", root!.pem + int1!.pem);
  const service = await startService(t, {
    cwd,
    args: ["--data-dir", join(cwd, "data"), "--workers", "1", "--ca", intFiles!.cert, "--ca-key", intFiles!.key, "--ca-bundle", rootFiles!.cert],
  });

  const info = await postJson(service.api, "info", {});
  t.equal(info.body.result.certificate, int1!.pem);
  t.same(info.body.result.chain, [root!.pem], "info's chain: the --ca-bundle, the CA's issuer first");

  const issued = await postJson(service.api, "newcert", { request: { CN: "localhost", hosts: ["localhost", "127.0.0.1"], key: { algo: "ecdsa", size: 256 } }, profile: "server", bundle: true });
  t.equal(issued.status, 200, JSON.stringify(issued.body));
  const { certificate, private_key, bundle } = issued.body.result;
  t.same(pems(bundle.bundle), [certificate, int1!.pem], "the leaf, then the intermediate; the root apart");
  t.equal(bundle.root, root!.pem.trim());
  t.equal(bundle.crt, certificate.trim());
  t.equal(bundle.key, private_key.trim());
  t.same(bundle.hostnames, ["localhost"]);
  t.equal(bundle.status.code, 0, JSON.stringify(bundle.status));

  const leafFile = writeFile(cwd, "leaf.pem", certificate);
  const chainFile = writeFile(cwd, "chain.pem", pems(bundle.bundle).slice(1).join(""));
  const verified = openssl(["verify", "-CAfile", rootFiles!.cert, "-untrusted", chainFile, leafFile]);
  t.equal(verified.status, 0, verified.stderr);
  t.match(verified.stdout, `${leafFile}: OK`);
  const alone = openssl(["verify", "-CAfile", rootFiles!.cert, leafFile]);
  t.not(alone.status, 0, "without the chain, the root alone does not verify the leaf");

  t.same(await handshake(t, private_key, bundle.bundle, root!.pem), { authorized: true }, "TLS with the bundle as the server's chain, the root as the client's only CA");
  t.equal((await handshake(t, private_key, certificate, root!.pem)).authorized, false, "the leaf alone is not enough");

  // sign: without bundle the answer is the certificate alone, as before; with it, cfssl's bundle without a key.
  mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(cwd, "csr-key.pem"), "-subj", "/CN=signed.internal", "-out", join(cwd, "req.csr")]);
  const csr = mustOpenssl(["req", "-in", join(cwd, "req.csr")]);
  const plain = await postJson(service.api, "sign", { certificate_request: csr, hosts: ["signed.internal"], profile: "server" });
  t.same(Object.keys(plain.body.result), ["certificate"]);
  const withBundle = await postJson(service.api, "sign", { certificate_request: csr, hosts: ["signed.internal"], profile: "server", bundle: true });
  t.equal(withBundle.status, 200, JSON.stringify(withBundle.body));
  t.equal(withBundle.body.result.bundle.key, "");
  t.same(pems(withBundle.body.result.bundle.bundle).slice(1), [int1!.pem]);

  // Revocation is the issuing CA's: its CRL and its OCSP answers verify under the chain.
  const serial = BigInt(`0x${new X509Certificate(certificate).serialNumber}`).toString(10);
  const revoked = await postJson(service.api, "revoke", { serial, reason: "keyCompromise" });
  t.equal(revoked.status, 200, JSON.stringify(revoked.body));
  const crl = await fetch(`${service.url}/crl/default.crl`);
  const crlFile = writeFile(cwd, "ca.crl", "");
  writeFileSync(crlFile, Buffer.from(await crl.arrayBuffer()));
  const crlText = openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", rootAndInt, "-noout", "-text"]);
  t.equal(crlText.status, 0, crlText.stderr);
  t.match(crlText.stderr, /verify OK/);
  t.match(crlText.stdout, /Issuer: .*CN\s*=\s*Chain Test Intermediate 1/);
  const ocsp = await opensslAsync(["ocsp", "-issuer", intFiles!.cert, "-cert", leafFile, "-url", `${service.url}/ocsp`, "-CAfile", rootAndInt, "-resp_text"]);
  t.equal(ocsp.status, 0, ocsp.stderr);
  t.match(ocsp.stderr, /Response verify OK/);
  t.match(ocsp.stdout, `${leafFile}: revoked`);
  // The responder is named by its key hash, which for this CA is its subject key id.
  t.match(ocsp.stdout, `Responder Id: ${subjectKeyId(int1!.pem).toUpperCase()}`, "signed by the intermediate itself");
  await service.stop("SIGTERM");
});

t.test("two intermediates: the bundle carries both; without the root in --ca-bundle, root is empty", async (t) => {
  const cwd = tempDir(t);
  const [root, int1, int2] = await caChain(2);
  const [rootFiles, , int2Files] = writeCas(cwd, [root!, int1!, int2!]);
  for (const [name, bundleFile] of [
    ["with the root", writeFile(cwd, "bundle-full.pem", int1!.pem + root!.pem)],
    ["without the root", writeFile(cwd, "bundle-partial.pem", int1!.pem)],
  ] as const) {
    const service = await startService(t, {
      cwd,
      args: ["--data-dir", join(cwd, `data-${name.length}`), "--workers", "1", "--ca", int2Files!.cert, "--ca-key", int2Files!.key, "--ca-bundle", bundleFile],
    });
    const issued = await postJson(service.api, "newcert", { request: { CN: "localhost", hosts: ["localhost"] }, profile: "server", bundle: true });
    const { certificate, private_key, bundle } = issued.body.result;
    t.same(pems(bundle.bundle), [certificate, int2!.pem, int1!.pem], `${name}: leaf, int2, int1`);
    t.equal(bundle.root, name === "with the root" ? root!.pem.trim() : "");
    const leafFile = writeFile(cwd, "leaf2.pem", certificate);
    const chainFile = writeFile(cwd, "chain2.pem", pems(bundle.bundle).slice(1).join(""));
    const verified = openssl(["verify", "-CAfile", rootFiles!.cert, "-untrusted", chainFile, leafFile]);
    t.equal(verified.status, 0, `${name}: ${verified.stderr}`);
    t.same(await handshake(t, private_key, bundle.bundle, root!.pem), { authorized: true }, `${name}: TLS`);
    const info = await postJson(service.api, "info", {});
    t.equal(info.body.result.chain.length, name === "with the root" ? 2 : 1);
    await service.stop("SIGTERM");
  }
});

t.test("a bad --ca-bundle stops the start in one line; an intermediate without one starts with a warning", async (t) => {
  const cwd = tempDir(t);
  const [root, int1, int2] = await caChain(2);
  const [, , int2Files] = writeCas(cwd, [root!, int1!, int2!]);
  const stranger = await testCa(defaultKeySpec, "Unrelated Root");
  const refusals: [string, string, RegExp][] = [
    ["wrong order", root!.pem + int1!.pem, /--ca-bundle .*wrong order\.pem: certificate 1 \(CN=Chain Test Root\) did not issue the --ca certificate \(CN=Chain Test Intermediate 2\)/],
    ["unrelated", int1!.pem + stranger.pem, /certificate 2 \(CN=Unrelated Root\) did not issue certificate 1 \(CN=Chain Test Intermediate 1\)/],
    ["empty", "nothing here\n", /no PEM "CERTIFICATE" block found/],
  ];
  for (const [name, text, message] of refusals) {
    const bundleFile = writeFile(cwd, `${name}.pem`, text);
    const refused = await runCli(t, await serveArgs(join(cwd, "data"), "--ca", int2Files!.cert, "--ca-key", int2Files!.key, "--ca-bundle", bundleFile), { cwd });
    t.equal(refused.code, 1, name);
    oneLine(t, refused.stderr);
    t.match(refused.stderr, message, name);
  }

  // An expired issuer above a CA still valid (made by hand: proper issuance would have cut the CA short).
  const day = 86_400_000;
  const oldRoot = await datedCa(new Date(Date.now() - 400 * day), new Date(Date.now() - 10 * day), "Expired Root");
  const survivor = await datedIntermediate(oldRoot, new Date(Date.now() - 30 * day), new Date(Date.now() + 300 * day), "Survivor");
  const expired = await runCli(
    t,
    await serveArgs(join(cwd, "data"), "--ca", writeFile(cwd, "survivor.pem", survivor.certificate), "--ca-key", writeFile(cwd, "survivor-key.pem", survivor.key), "--ca-bundle", writeFile(cwd, "expired-root.pem", oldRoot.certificate)),
    { cwd },
  );
  t.equal(expired.code, 1);
  oneLine(t, expired.stderr);
  t.match(expired.stderr, /certificate 1 \(CN=Expired Root\) expired on /);

  const service = await startService(t, { cwd, args: ["--data-dir", join(cwd, "data"), "--workers", "1", "--ca", int2Files!.cert, "--ca-key", int2Files!.key] });
  t.match(service.stdout() + service.stderr(), /is not self-signed and no --ca-bundle names its issuers/);
  const info = await postJson(service.api, "info", {});
  t.notOk("chain" in info.body.result, "no chain without --ca-bundle");
  await service.stop("SIGTERM");
});

t.test("--tls-hosts under an intermediate: the service sends the chain, a root-only client connects", async (t) => {
  const cwd = tempDir(t);
  const [root, int1, int2] = await caChain(2);
  const [, , int2Files] = writeCas(cwd, [root!, int1!, int2!]);
  const port = await freePort();
  // startService polls over plain HTTP; this one speaks only HTTPS, so it is spawned here.
  const args = ["serve", "--data-dir", join(cwd, "data"), "--workers", "1", "--port", String(port), "--tls-hosts", "localhost"];
  const child = spawn(process.execPath, [mainJs, ...args, "--ca", int2Files!.cert, "--ca-key", int2Files!.key, "--ca-bundle", writeFile(cwd, "b.pem", int1!.pem + root!.pem)], {
    cwd,
    env: childEnv(),
    stdio: "ignore",
  });
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const deadline = Date.now() + 15_000;
  let outcome: { authorized: boolean; error?: string } = { authorized: false, error: "never answered" };
  while (Date.now() < deadline) {
    outcome = await new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ca: root!.pem }, () => {
        resolve({ authorized: socket.authorized });
        socket.destroy();
      });
      socket.on("error", (error) => resolve({ authorized: false, error: error.message }));
    });
    if (outcome.authorized || !/ECONNREFUSED/.test(outcome.error ?? "")) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.same(outcome, { authorized: true }, "trusting only the root");
});

t.test("the client: gencert --bundle | json writes NAME-bundle.pem; sign --bundle and the envelope too", async (t) => {
  const cwd = tempDir(t);
  const [root, int1] = await caChain(1);
  const [rootFiles, intFiles] = writeCas(cwd, [root!, int1!]);
  const service = await startService(t, {
    cwd,
    args: ["--data-dir", join(cwd, "data"), "--workers", "1", "--ca", intFiles!.cert, "--ca-key", intFiles!.key, "--ca-bundle", rootFiles!.cert],
  });
  const csrJson = writeFile(cwd, "csr.json", JSON.stringify({ CN: "client.internal", hosts: ["client.internal"] }));
  const made = await client(t, ["gencert", "--remote", service.url, "--profile", "server", "--bundle", csrJson], { cwd });
  t.equal(made.code, 0, made.stderr);
  t.same(Object.keys(JSON.parse(made.stdout)).sort(), ["bundle", "cert", "csr", "key"], "cfssljson writes a string bundle as NAME-bundle.pem");
  const written = await client(t, ["json", "--bare", "server"], { cwd, input: made.stdout });
  t.equal(written.code, 0, written.stderr);
  const verified = openssl(["verify", "-CAfile", rootFiles!.cert, "-untrusted", "server-bundle.pem", "server.pem"], undefined, cwd);
  t.equal(verified.status, 0, verified.stderr);
  t.same(pems(readFileSync(join(cwd, "server-bundle.pem"), "utf8")).slice(1), [int1!.pem]);

  mustOpenssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "node-key.pem", "-out", "node.csr", "-subj", "/CN=node.internal"], cwd);
  const signed = await client(t, ["sign", "--remote", service.url, "--hosts", "node.internal", "--bundle", "node.csr"], { cwd });
  t.equal(signed.code, 0, signed.stderr);
  t.same(Object.keys(JSON.parse(signed.stdout)), ["cert", "bundle"]);
  const plain = await client(t, ["sign", "--remote", service.url, "--hosts", "node.internal", "node.csr"], { cwd });
  t.same(Object.keys(JSON.parse(plain.stdout)), ["cert"], "no bundle unless asked");

  const answer = await postJson(service.api, "newcert", { request: { CN: "env.internal", hosts: ["env.internal"] }, profile: "server", bundle: true });
  const fromEnvelope = await client(t, ["json", "env"], { cwd, input: JSON.stringify(answer.body) });
  t.equal(fromEnvelope.code, 0, fromEnvelope.stderr);
  t.equal(readFileSync(join(cwd, "env-bundle.pem"), "utf8"), `${answer.body.result.bundle.bundle}\n`, "the service's bundle object: its bundle string");
  await service.stop("SIGTERM");
});
