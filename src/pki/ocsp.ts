import { createHash, X509Certificate } from "node:crypto";
import type { CertificateAuthority } from "./certificate.js";
import {
  bigInteger,
  bitString,
  derNull,
  children,
  enumerated,
  expectTag,
  explicit,
  generalizedTime,
  integerValue,
  octetString,
  oid,
  oidToString,
  readWhole,
  sequence,
  Tag,
  tlv,
  type Element,
} from "./der.js";
import { extension, keyIdentifier, readExtensions } from "./extensions.js";
import { loadPrivateKey, signatureAlgorithmFor, signData, signDataAsync, type PrivateKey } from "./keys.js";
import { reasonName } from "./revocation.js";

const nonceOid = "1.3.6.1.5.5.7.48.1.2";
const basicResponseOid = "1.3.6.1.5.5.7.48.1.1";

/** CertID hash algorithms by OID, as Node names them; SHA-1 is what most clients send (RFC 5019). */
const hashAlgorithms: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.4": "sha224",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const digestLengths: Record<string, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** The request is not an OCSP request the responder can read; answer with `malformedRequest`. */
export class OcspMalformedError extends Error {
  override name = "OcspMalformedError";
}

export interface OcspCertRequest {
  /** Node's digest name for the CertID's hashes: sha1, sha224, sha256, sha384 or sha512. */
  hashAlgorithm: string;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  serial: bigint;
  /** The CertID as the client encoded it, to be copied into the response: clients compare the bytes. */
  certId: Uint8Array;
}

export interface OcspRequest {
  requests: OcspCertRequest[];
  /** The nonce extension's extnValue contents, to be echoed as they are; absent without a nonce. */
  nonce?: Uint8Array;
}

function readCertId(element: Element | undefined): OcspCertRequest {
  const [algorithm, nameHash, keyHash, serial] = children(expectTag(element, Tag.sequence, "CertID").value);
  const [id] = children(expectTag(algorithm, Tag.sequence, "hashAlgorithm").value);
  const dotted = oidToString(expectTag(id, Tag.oid, "hashAlgorithm id").value);
  const hashAlgorithm = hashAlgorithms[dotted];
  if (!hashAlgorithm) throw new OcspMalformedError(`CertID hash algorithm ${dotted} is not supported`);
  const issuerNameHash = expectTag(nameHash, Tag.octetString, "issuerNameHash").value;
  const issuerKeyHash = expectTag(keyHash, Tag.octetString, "issuerKeyHash").value;
  if (issuerNameHash.length !== digestLengths[hashAlgorithm] || issuerKeyHash.length !== digestLengths[hashAlgorithm]) {
    throw new OcspMalformedError(`CertID hashes are not ${hashAlgorithm} digests`);
  }
  return {
    hashAlgorithm,
    issuerNameHash: new Uint8Array(issuerNameHash),
    issuerKeyHash: new Uint8Array(issuerKeyHash),
    serial: integerValue(expectTag(serial, Tag.integer, "serialNumber").value),
    certId: new Uint8Array(element!.raw),
  };
}

/**
 * RFC 9654 2.1 (which replaced RFC 8954's 32): a nonce is 1 to 128 octets, and a responder must
 * refuse others as malformed rather than echo whatever it is sent. RFC 6960 clients wrap it in an
 * OCTET STRING; older ones send the bytes bare, so the limit applies to whichever is there.
 */
function checkNonce(value: Uint8Array): void {
  let nonce = value;
  try {
    nonce = readWhole(value, Tag.octetString).value;
  } catch {
    // a bare nonce
  }
  if (nonce.length < 1 || nonce.length > 128) throw new OcspMalformedError(`the nonce is ${nonce.length} octets; 1 to 128 are accepted`);
}

/**
 * Reads a DER OCSPRequest (RFC 6960 4.1.1). A signature on the request is not checked (the
 * responder answers anyone, as cfssl's does). Throws OcspMalformedError for bad DER, a hash
 * algorithm it cannot compute, or no certificate asked about.
 */
export function parseOcspRequest(der: Uint8Array): OcspRequest {
  try {
    const [tbsRequest] = children(readWhole(der, Tag.sequence).value);
    const fields = children(expectTag(tbsRequest, Tag.sequence, "tbsRequest").value);
    let at = 0;
    if (fields[at]?.tag === 0xa0) {
      const version = children(fields[at]!.value)[0];
      if (integerValue(expectTag(version, Tag.integer, "version").value) !== 0n) throw new OcspMalformedError("only OCSP v1 requests are understood");
      at++;
    }
    if (fields[at]?.tag === 0xa1) at++; // requestorName: only meaningful with a signature
    const list = children(expectTag(fields[at], Tag.sequence, "requestList").value);
    if (list.length === 0) throw new OcspMalformedError("the request asks about no certificate");
    const requests = list.map((request) => readCertId(children(expectTag(request, Tag.sequence, "Request").value)[0]));
    let nonce: Uint8Array | undefined;
    const extensionsField = fields[at + 1];
    if (extensionsField) {
      const extensions = readExtensions(children(expectTag(extensionsField, 0xa2, "requestExtensions").value)[0]?.raw ?? new Uint8Array());
      const found = extensions.find((ext) => ext.id === nonceOid);
      if (found) {
        checkNonce(found.value);
        nonce = new Uint8Array(found.value);
      }
    }
    return nonce ? { requests, nonce } : { requests };
  } catch (error) {
    if (error instanceof OcspMalformedError) throw error;
    throw new OcspMalformedError(`not a DER OCSP request: ${(error as Error).message}`, { cause: error });
  }
}

/** The subjectPublicKey BIT STRING contents of a DER SubjectPublicKeyInfo. */
function publicKeyBits(spki: Uint8Array): Uint8Array {
  const [, key] = children(readWhole(spki, Tag.sequence).value);
  return expectTag(key, Tag.bitString, "subjectPublicKey").value.subarray(1);
}

/**
 * What a CertID for a certificate issued by `ca` holds (RFC 6960 4.1.1): the hash of the CA's
 * subject DER and of its public key bits (not the whole SPKI), with `hashAlgorithm` (a Node name).
 */
export function issuerHashes(ca: CertificateAuthority, hashAlgorithm: string): { issuerNameHash: Uint8Array; issuerKeyHash: Uint8Array } {
  return {
    issuerNameHash: new Uint8Array(createHash(hashAlgorithm).update(ca.subjectDer).digest()),
    issuerKeyHash: new Uint8Array(createHash(hashAlgorithm).update(publicKeyBits(ca.key.spki)).digest()),
  };
}

/** The CertID a client would send for serial `serial` of `ca`, for answers made without a request (cfssl's ocspsign). */
export function certIdFor(ca: CertificateAuthority, serial: bigint, hashAlgorithm: string): Uint8Array {
  const id = Object.keys(hashAlgorithms).find((dotted) => hashAlgorithms[dotted] === hashAlgorithm);
  if (!id) throw new RangeError(`${hashAlgorithm} is not a CertID hash algorithm`);
  const { issuerNameHash, issuerKeyHash } = issuerHashes(ca, hashAlgorithm);
  return sequence(sequence(oid(id), derNull), octetString(issuerNameHash), octetString(issuerKeyHash), bigInteger(serial));
}

/** Node's names of the hash algorithms a CertID may use. */
export const certIdHashes = Object.values(hashAlgorithms);

/** Whether a request's CertID names `ca` as the issuer. */
export function isForIssuer(request: OcspCertRequest, ca: CertificateAuthority): boolean {
  const expected = issuerHashes(ca, request.hashAlgorithm);
  return (
    Buffer.from(expected.issuerNameHash).equals(request.issuerNameHash) && Buffer.from(expected.issuerKeyHash).equals(request.issuerKeyHash)
  );
}

/** SHA-1 of a signer's public key bits, from its DER SubjectPublicKeyInfo: the ResponderID byKey. */
export function responderKeyHash(spki: Uint8Array): Uint8Array {
  return keyIdentifier(spki);
}

export interface OcspSigner {
  /** A delegated responder's certificate (issued by the CA, with OCSPSigning), sent in `certs`; absent when the CA signs itself. */
  certificateDer?: Uint8Array;
  key: PrivateKey;
  /** SHA-1 of the signer's public key bits (see responderKeyHash). */
  responderKeyHash: Uint8Array;
}

const ocspSigningOid = "1.3.6.1.5.5.7.3.9";

/**
 * A delegated responder (RFC 6960 4.2.2.2) from its certificate and key PEM: the certificate must
 * be issued by `ca` (clients accept no other), allow OCSP signing, and belong to the key. Throws a
 * plain Error saying which of these fails; the caller names the files.
 */
export function delegatedSigner(certificatePem: string, keyPem: string, ca: CertificateAuthority): OcspSigner {
  const certificate = new X509Certificate(certificatePem);
  const caCertificate = new X509Certificate(ca.pem);
  if (!certificate.checkIssued(caCertificate) || !certificate.verify(caCertificate.publicKey)) {
    throw new Error("the OCSP responder certificate is not issued by the CA, so clients would not accept its answers");
  }
  if (!(certificate.keyUsage ?? []).includes(ocspSigningOid)) {
    throw new Error("the OCSP responder certificate lacks the OCSP signing extended key usage (profile usage \"ocsp signing\")");
  }
  const key = loadPrivateKey(keyPem);
  const spki = new Uint8Array(certificate.publicKey.export({ type: "spki", format: "der" }));
  if (!Buffer.from(spki).equals(Buffer.from(key.spki))) throw new Error("the OCSP responder key does not belong to its certificate");
  return { certificateDer: new Uint8Array(certificate.raw), key, responderKeyHash: responderKeyHash(spki) };
}

export interface OcspSingleResponse {
  /** The request's CertID, raw, copied as it is. */
  certId: Uint8Array;
  status: "good" | "revoked" | "unknown";
  /** Required for `revoked`. */
  revokedAt?: Date;
  /** An RFC 5280 reason code; 0 (unspecified) or absent writes no reason. */
  reason?: number;
  thisUpdate: Date;
  /** Absent: newer information is always available (RFC 6960 4.2.2.1). */
  nextUpdate?: Date;
}

export interface OcspResponseInput {
  producedAt: Date;
  responses: readonly OcspSingleResponse[];
  /** The request's nonce (OcspRequest.nonce), echoed as it is. */
  nonce?: Uint8Array;
}

function certStatus(response: OcspSingleResponse): Uint8Array {
  switch (response.status) {
    case "good":
      return Uint8Array.of(0x80, 0); // [0] IMPLICIT NULL
    case "unknown":
      return Uint8Array.of(0x82, 0); // [2] IMPLICIT NULL
    case "revoked": {
      if (!response.revokedAt) throw new Error("a revoked OCSP response needs revokedAt");
      const reason = response.reason ?? 0;
      reasonName(reason); // refuses codes that are not reasons
      // Like the CRL entry: no reason rather than "unspecified".
      return tlv(0xa1, generalizedTime(response.revokedAt), ...(reason === 0 ? [] : [explicit(0, enumerated(reason))]));
    }
  }
}

function singleResponse(response: OcspSingleResponse): Uint8Array {
  return sequence(
    response.certId,
    certStatus(response),
    generalizedTime(response.thisUpdate),
    ...(response.nextUpdate ? [explicit(0, generalizedTime(response.nextUpdate))] : []),
  );
}

/**
 * A successful OCSPResponse carrying a BasicOCSPResponse (RFC 6960 4.2.1), signed by `signer`
 * with the algorithm its key implies, the ResponderID by key hash, all times as GeneralizedTime,
 * and the request's nonce echoed when there was one.
 */
export function buildOcspResponse(signer: OcspSigner, input: OcspResponseInput): Uint8Array {
  const tbs = tbsResponseData(signer, input);
  return signedOcspResponse(signer, tbs, signData(signer.key, tbs));
}

/** buildOcspResponse, with a key in a PKCS#11 module signing off the event loop (see signDataAsync). */
export async function buildOcspResponseAsync(signer: OcspSigner, input: OcspResponseInput): Promise<Uint8Array> {
  const tbs = tbsResponseData(signer, input);
  return signedOcspResponse(signer, tbs, await signDataAsync(signer.key, tbs));
}

function tbsResponseData(signer: OcspSigner, input: OcspResponseInput): Uint8Array {
  return sequence(
    explicit(2, octetString(signer.responderKeyHash)), // ResponderID byKey
    generalizedTime(input.producedAt),
    sequence(...input.responses.map(singleResponse)),
    ...(input.nonce ? [explicit(1, sequence(extension(nonceOid, false, input.nonce)))] : []),
  );
}

function signedOcspResponse(signer: OcspSigner, tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  const basic = sequence(
    tbs,
    signatureAlgorithmFor(signer.key.spec).identifier,
    bitString(signature),
    ...(signer.certificateDer ? [explicit(0, sequence(signer.certificateDer))] : []),
  );
  return sequence(enumerated(0), explicit(0, sequence(oid(basicResponseOid), octetString(basic))));
}

const errorStatuses = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;

export type OcspErrorStatus = keyof typeof errorStatuses;

/** An unsuccessful OCSPResponse: the status alone, without responseBytes (RFC 6960 4.2.1). */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  return sequence(enumerated(errorStatuses[status]));
}
