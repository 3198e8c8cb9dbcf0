// OCSP from parseOcspRequest and buildOcspResponse, judged by the openssl command line: requests
// made by `openssl ocsp` parse to the right serials and issuer hashes, and responses built for them
// verify with `openssl ocsp -respin` (signature, responder, nonce) and report the right status.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import type { CertificateAuthority } from "../../src/pki/certificate.js";
import { enumerated, explicit, octetString, oid, sequence, smallInteger } from "../../src/pki/der.js";
import { extension } from "../../src/pki/extensions.js";
import type { KeySpec } from "../../src/pki/keys.js";
import {
  buildOcspResponse,
  isForIssuer,
  issuerHashes,
  ocspErrorResponse,
  OcspMalformedError,
  parseOcspRequest,
  responderKeyHash,
  type OcspErrorStatus,
  type OcspRequest,
  type OcspSigner,
  type OcspSingleResponse,
} from "../../src/pki/ocsp.js";
import { reasonCodes, serialToHex } from "../../src/pki/revocation.js";
import { issueLeaf, openssl, tempDir, testCa, writeFile } from "../helpers/revocation-ca.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const hour = 3_600_000;

/** Runs `openssl ocsp` to make a request for `leafPems` (options such as -sha256 or -no_nonce first) and parses it. */
function request(dir: string, caFile: string, leafPems: string[], options: string[] = []): { file: string; parsed: OcspRequest; der: Buffer } {
  const file = join(dir, `req-${Math.random().toString(36).slice(2)}.der`);
  const certs = leafPems.flatMap((pem, i) => ["-cert", writeFile(dir, `leaf${i}.pem`, pem)]);
  const made = openssl(["ocsp", "-issuer", caFile, ...options, ...certs, "-reqout", file]);
  if (made.status !== 0) throw new Error(made.output);
  const der = readFileSync(file);
  return { file, parsed: parseOcspRequest(der), der };
}

/** Writes `response` and has openssl verify it against `req`: the whole -resp_text output and stderr. */
function check(dir: string, caFile: string, reqFile: string, response: Uint8Array, extra: string[] = []): string {
  const file = writeFile(dir, `resp-${Math.random().toString(36).slice(2)}.der`, response);
  return openssl(["ocsp", "-respin", file, "-issuer", caFile, "-CAfile", caFile, "-reqin", reqFile, "-resp_text", ...extra]).output;
}

/** The status openssl prints for each serial in -resp_text output, by upper-case hex serial. */
function statuses(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const block of text.split("Certificate ID:").slice(1)) {
    const serial = /Serial Number: ([0-9A-F]+)/.exec(block)?.[1];
    const status = /Cert Status: (\w+)/.exec(block)?.[1];
    const reason = /Revocation Reason: (\w+)/.exec(block)?.[1];
    if (serial && status) out.set(serial, reason ? `${status} ${reason}` : status);
  }
  return out;
}

const caSigner = (ca: CertificateAuthority): OcspSigner => ({ key: ca.key, responderKeyHash: responderKeyHash(ca.key.spki) });

const specs: KeySpec[] = [
  { algo: "ecdsa", size: 256 },
  { algo: "rsa", size: 2048 },
  { algo: "ed25519", size: 0 },
];

for (const spec of specs) {
  t.test(`${spec.algo} CA signing itself: good, revoked and unknown, with the nonce echoed`, async (t) => {
    const dir = tempDir(t);
    const now = new Date();
    const { ca, pem } = await testCa(spec, `OCSP test CA ${spec.algo}`);
    const caFile = writeFile(dir, "ca.pem", pem);
    const good = await issueLeaf(ca, "good.example");
    const revoked = await issueLeaf(ca, "revoked.example");
    const unknown = await issueLeaf(ca, "unknown.example");

    const req = request(dir, caFile, [good.pem, revoked.pem, unknown.pem]);
    t.equal(req.parsed.requests.length, 3, "three certificates in one request");
    t.same(req.parsed.requests.map((r) => r.serial), [good.serial, revoked.serial, unknown.serial], "their serials, in order");
    t.ok(req.parsed.nonce, "openssl sends a nonce by default");
    const sha1 = issuerHashes(ca, "sha1");
    for (const r of req.parsed.requests) {
      t.equal(r.hashAlgorithm, "sha1");
      t.equal(hex(r.issuerNameHash), hex(sha1.issuerNameHash), "issuer name hash");
      t.equal(hex(r.issuerKeyHash), hex(sha1.issuerKeyHash), "issuer key hash");
      t.ok(isForIssuer(r, ca));
      t.ok(req.der.includes(Buffer.from(r.certId)), "the CertID is the request's bytes");
    }

    const [goodId, revokedId, unknownId] = req.parsed.requests.map((r) => r.certId) as [Uint8Array, Uint8Array, Uint8Array];
    const responses: OcspSingleResponse[] = [
      { certId: goodId, status: "good", thisUpdate: now, nextUpdate: new Date(now.getTime() + hour) },
      { certId: revokedId, status: "revoked", revokedAt: new Date(now.getTime() - hour), reason: reasonCodes.keyCompromise, thisUpdate: now, nextUpdate: new Date(now.getTime() + hour) },
      { certId: unknownId, status: "unknown", thisUpdate: now },
    ];
    const text = check(dir, caFile, req.file, buildOcspResponse(caSigner(ca), { producedAt: now, responses, ...(req.parsed.nonce ? { nonce: req.parsed.nonce } : {}) }));
    t.match(text, /Response verify OK/, "the signature verifies with the CA as responder");
    t.notMatch(text, /WARNING: no nonce|Nonce Verify error/, "the nonce check passes");
    t.match(text, /OCSP Nonce:/);
    t.same(
      Object.fromEntries(statuses(text)),
      { [serialToHex(good.serial)]: "good", [serialToHex(revoked.serial)]: "revoked keyCompromise", [serialToHex(unknown.serial)]: "unknown" },
      "each certificate's status",
    );
    t.match(text, /Responder Id: [0-9A-F]{40}/, "ResponderID by key hash");
  });
}

t.test("nonce: absent with -no_nonce, and a wrong one fails openssl's check", async (t) => {
  const dir = tempDir(t);
  const now = new Date();
  const { ca, pem } = await testCa({ algo: "ecdsa", size: 256 }, "Nonce CA");
  const caFile = writeFile(dir, "ca.pem", pem);
  const leaf = await issueLeaf(ca, "leaf.example");

  const plain = request(dir, caFile, [leaf.pem], ["-no_nonce"]);
  t.equal(plain.parsed.nonce, undefined, "no nonce asked, none returned");
  const responses: OcspSingleResponse[] = [{ certId: plain.parsed.requests[0]!.certId, status: "good", thisUpdate: now }];
  const text = check(dir, caFile, plain.file, buildOcspResponse(caSigner(ca), { producedAt: now, responses }));
  t.match(text, /Response verify OK/);
  t.notMatch(text, /OCSP Nonce/, "no nonce extension in the response");

  const withNonce = request(dir, caFile, [leaf.pem]);
  const wrong = Uint8Array.from([0x04, 0x02, 0xde, 0xad]);
  const bad = check(dir, caFile, withNonce.file, buildOcspResponse(caSigner(ca), { producedAt: now, responses, nonce: wrong }));
  t.match(bad, /Nonce Verify error/, "openssl does check the echoed nonce");
  const missing = check(dir, caFile, withNonce.file, buildOcspResponse(caSigner(ca), { producedAt: now, responses }));
  t.match(missing, /WARNING: no nonce in response/);
});

t.test("-sha256 issuer hashing", async (t) => {
  const dir = tempDir(t);
  const now = new Date();
  const { ca, pem } = await testCa({ algo: "ecdsa", size: 256 }, "SHA-256 CA");
  const caFile = writeFile(dir, "ca.pem", pem);
  const leaf = await issueLeaf(ca, "leaf.example");
  const req = request(dir, caFile, [leaf.pem], ["-sha256"]);
  const [one] = req.parsed.requests;
  t.equal(one!.hashAlgorithm, "sha256");
  t.equal(hex(one!.issuerNameHash), hex(issuerHashes(ca, "sha256").issuerNameHash));
  t.equal(hex(one!.issuerKeyHash), hex(issuerHashes(ca, "sha256").issuerKeyHash));
  t.ok(isForIssuer(one!, ca));
  const other = await testCa({ algo: "ecdsa", size: 256 }, "SHA-256 CA");
  t.notOk(isForIssuer(one!, other.ca), "same name, other key: not this issuer");

  const response = buildOcspResponse(caSigner(ca), { producedAt: now, responses: [{ certId: one!.certId, status: "good", thisUpdate: now }], nonce: req.parsed.nonce! });
  const text = check(dir, caFile, req.file, response);
  t.match(text, /Response verify OK/);
  t.match(text, /Hash Algorithm: sha256/);
  t.match(text, /Cert Status: good/);
});

t.test("a delegated responder with OCSPSigning verifies; one without it does not", async (t) => {
  const dir = tempDir(t);
  const now = new Date();
  const { ca, pem } = await testCa({ algo: "ecdsa", size: 256 }, "Delegating CA");
  const caFile = writeFile(dir, "ca.pem", pem);
  const leaf = await issueLeaf(ca, "leaf.example");
  const req = request(dir, caFile, [leaf.pem]);
  const responses: OcspSingleResponse[] = [{ certId: req.parsed.requests[0]!.certId, status: "revoked", revokedAt: now, thisUpdate: now }];
  const signedBy = (responder: Awaited<ReturnType<typeof issueLeaf>>) =>
    buildOcspResponse(
      { certificateDer: responder.der, key: responder.key, responderKeyHash: responderKeyHash(responder.key.spki) },
      { producedAt: now, responses, nonce: req.parsed.nonce! },
    );

  const responder = await issueLeaf(ca, "ocsp.example", ["digital signature", "ocsp signing"]);
  const text = check(dir, caFile, req.file, signedBy(responder));
  t.match(text, /Response verify OK/, "chains to the CA and carries OCSPSigning");
  t.match(text, /Cert Status: revoked/);
  t.notMatch(text, /Revocation Reason/, "unspecified: no reason written");
  t.match(text, /Certificate:[\s\S]*ocsp\.example/, "the responder's certificate is in certs");

  const viaVaFile = openssl([
    "ocsp", "-respin", writeFile(dir, "delegated.der", signedBy(responder)), "-VAfile", writeFile(dir, "responder.pem", responder.pem),
    "-reqin", req.file, "-issuer", caFile,
  ]).output;
  t.match(viaVaFile, /Response verify OK/, "and with the responder trusted directly (-VAfile)");

  const server = await issueLeaf(ca, "server.example");
  const refused = check(dir, caFile, req.file, signedBy(server));
  t.notMatch(refused, /Response verify OK/, "a responder without OCSPSigning is refused by openssl");
  t.match(refused, /missing ocspsigning usage/, "for that reason");
});

t.test("a signed request (optionalSignature, requestorName) is read past its signature", async (t) => {
  const dir = tempDir(t);
  const { ca, pem } = await testCa({ algo: "ecdsa", size: 256 }, "Signed request CA");
  const caFile = writeFile(dir, "ca.pem", pem);
  const leaf = await issueLeaf(ca, "leaf.example");
  const req = request(dir, caFile, [leaf.pem], ["-signer", writeFile(dir, "signer.pem", leaf.pem), "-signkey", writeFile(dir, "signer.key", leaf.key.pem)]);
  t.match(openssl(["ocsp", "-reqin", req.file, "-req_text"]).stdout, /Requestor Name:[\s\S]*Signature Algorithm/, "openssl did sign it");
  t.equal(req.parsed.requests[0]!.serial, leaf.serial);
  t.ok(req.parsed.nonce);
});

t.test("malformed requests throw OcspMalformedError", async (t) => {
  const dir = tempDir(t);
  const { ca, pem } = await testCa({ algo: "ecdsa", size: 256 }, "Malformed CA");
  const caFile = writeFile(dir, "ca.pem", pem);
  const leaf = await issueLeaf(ca, "leaf.example");
  const good = request(dir, caFile, [leaf.pem]).der;

  const sha1Id = sequence(oid("1.3.14.3.2.26"));
  const certId = (algorithm: Uint8Array, hashLength: number) =>
    sequence(algorithm, octetString(new Uint8Array(hashLength)), octetString(new Uint8Array(hashLength)), smallInteger(5));
  const nonceRequest = (nonce: Uint8Array) =>
    sequence(sequence(sequence(sequence(certId(sha1Id, 20))), explicit(2, sequence(extension("1.3.6.1.5.5.7.48.1.2", false, nonce)))));
  const cases: Record<string, Uint8Array> = {
    empty: new Uint8Array(),
    garbage: Buffer.from("GET / HTTP/1.1\r\n\r\n"),
    "a PEM text": Buffer.from("-----BEGIN OCSP REQUEST-----\nMAA=\n-----END OCSP REQUEST-----\n"),
    "trailing bytes": Buffer.concat([good, Buffer.of(0)]),
    "no certificate asked about": sequence(sequence(sequence())),
    "an unknown hash algorithm (MD5)": sequence(sequence(sequence(sequence(certId(sequence(oid("1.2.840.113549.2.5")), 16))))),
    "hashes of the wrong length": sequence(sequence(sequence(sequence(certId(sha1Id, 32))))),
    "version 2": sequence(sequence(explicit(0, smallInteger(1)), sequence(sequence(certId(sha1Id, 20))))),
    "an empty nonce": nonceRequest(octetString(new Uint8Array())),
    "a 129-octet nonce (RFC 9654)": nonceRequest(octetString(new Uint8Array(129))),
    "an OCSP response": ocspErrorResponse("malformedRequest"),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    t.throws(() => parseOcspRequest(bytes), OcspMalformedError, name);
  }
  t.equal(parseOcspRequest(nonceRequest(octetString(new Uint8Array(128)))).nonce?.length, 131, "a 128-octet nonce is accepted, echoed with its OCTET STRING header");
  t.equal(parseOcspRequest(nonceRequest(Uint8Array.of(1, 2, 3))).nonce?.length, 3, "a bare nonce (pre-RFC 6960 clients) is echoed as it is");

  // Every truncation and every single-byte change either parses or throws OcspMalformedError, nothing else.
  let other = 0;
  const tryParse = (bytes: Uint8Array) => {
    try {
      parseOcspRequest(bytes);
    } catch (error) {
      if (!(error instanceof OcspMalformedError)) other++;
    }
  };
  for (let i = 0; i < good.length; i++) {
    t.throws(() => parseOcspRequest(good.subarray(0, i)), OcspMalformedError);
    for (const flip of [0x01, 0x80, 0xff]) {
      const changed = Buffer.from(good);
      changed[i]! ^= flip;
      tryParse(changed);
    }
  }
  t.equal(other, 0, "no other error type escapes");
});

t.test("error responses are read by openssl as their status", async (t) => {
  const dir = tempDir(t);
  const codes: Record<OcspErrorStatus, number> = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 };
  for (const [status, code] of Object.entries(codes)) {
    const der = ocspErrorResponse(status as OcspErrorStatus);
    t.same([...der], [0x30, 0x03, 0x0a, 0x01, code], `${status}: SEQUENCE { ENUMERATED ${code} }`);
    const text = openssl(["ocsp", "-respin", writeFile(dir, `${status}.der`, der), "-resp_text", "-noverify"]).output;
    t.match(text, new RegExp(`Responder Error: ${status} \\(${code}\\)`, "i"), status);
  }
  t.same([...enumerated(0)], [0x0a, 0x01, 0x00]);
});
