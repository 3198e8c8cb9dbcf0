// Roots and intermediates made with the service's own issuance code (a profile with
// ca_constraint), for the chain tests; openssl and node's TLS judge what they build.
import { loadCertificateAuthority } from "../../src/pki/ca.js";
import { issueCertificate, type CertificateAuthority } from "../../src/pki/certificate.js";
import { emptySans } from "../../src/pki/hosts.js";
import { defaultKeySpec, generatePrivateKey } from "../../src/pki/keys.js";
import { buildName, subjectFieldsFromRequest } from "../../src/pki/subject.js";
import { parseSigningConfig } from "../../src/profiles/signing-config.js";
import { testCa } from "./revocation-ca.js";

/** A CA of the chain: what loads it as a signer, its PEM and its key's PEM. */
export interface ChainCa {
  ca: CertificateAuthority;
  pem: string;
  keyPem: string;
}

/** An intermediate issued by `issuer`, valid from `now` for `expiry` (cfssl's form), itself allowed to issue CAs. */
export async function intermediate(issuer: CertificateAuthority, cn: string, now = new Date(), expiry = "8760h"): Promise<ChainCa> {
  const key = await generatePrivateKey(defaultKeySpec);
  const profile = parseSigningConfig({
    signing: { default: { usages: ["cert sign", "crl sign"], expiry, ca_constraint: { is_ca: true } } },
  }).defaultProfile;
  const subject = buildName(subjectFieldsFromRequest({ CN: cn, names: [{ O: "certwright tests" }] }));
  const { pem } = issueCertificate(issuer, { subject, spki: key.spki, sans: emptySans(), profile }, now);
  return { ca: await loadCertificateAuthority(pem, key.pem, "", now), pem, keyPem: key.pem };
}

/** A root, then `depth` intermediates each issued by the one before: [root, int1, int2…]. */
export async function caChain(depth: number, now = new Date()): Promise<ChainCa[]> {
  const root = await testCa(defaultKeySpec, "Chain Test Root", now);
  const chain: ChainCa[] = [{ ...root, keyPem: root.ca.key.pem }];
  for (let level = 1; level <= depth; level++) chain.push(await intermediate(chain[level - 1]!.ca, `Chain Test Intermediate ${level}`, now));
  return chain;
}
