// A self-signed CA with chosen NotBefore / NotAfter, for the expired and not-yet-valid refusals:
// openssl 3.0's `req -x509` cannot date a certificate in the past, so @peculiar/x509 makes it.
import { webcrypto } from "node:crypto";
import { x509 } from "../../src/pki/webcrypto.js";

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

/** An ECDSA P-256 CA (CA:TRUE) valid from notBefore to notAfter; the key as PKCS#8 PEM. */
export async function datedCa(notBefore: Date, notAfter: Date, cn = "Dated CA"): Promise<{ certificate: string; key: string }> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${cn}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as unknown as webcrypto.CryptoKey);
  return { certificate: `${certificate.toString("pem")}\n`, key: pem("PRIVATE KEY", pkcs8) };
}

/**
 * An ECDSA P-256 intermediate (CA:TRUE) issued by `issuer` (from datedCa), valid from notBefore to
 * notAfter whatever the issuer's own validity: a chain with an expired issuer above a valid CA.
 */
export async function datedIntermediate(
  issuer: { certificate: string; key: string },
  notBefore: Date,
  notAfter: Date,
  cn = "Dated Intermediate",
): Promise<{ certificate: string; key: string }> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const issuerCertificate = new x509.X509Certificate(issuer.certificate);
  const issuerDer = Buffer.from(issuer.key.replace(/-----[A-Z ]+-----|\s+/g, ""), "base64");
  const signingKey = await webcrypto.subtle.importKey("pkcs8", issuerDer, algorithm, false, ["sign"]);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: `CN=${cn}`,
    issuer: issuerCertificate.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: signingKey as unknown as CryptoKey,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuerCertificate),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as unknown as webcrypto.CryptoKey);
  return { certificate: `${certificate.toString("pem")}\n`, key: pem("PRIVATE KEY", pkcs8) };
}
