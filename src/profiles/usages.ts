import { KeyUsageBit } from "../pki/key-usage.js";

/** cfssl's key usage names (the same strings Kubernetes uses) and their X.509 bits. */
export const keyUsageNames: Record<string, number> = {
  signing: KeyUsageBit.digitalSignature,
  "digital signature": KeyUsageBit.digitalSignature,
  "content commitment": KeyUsageBit.nonRepudiation,
  "key encipherment": KeyUsageBit.keyEncipherment,
  "key agreement": KeyUsageBit.keyAgreement,
  "data encipherment": KeyUsageBit.dataEncipherment,
  "cert sign": KeyUsageBit.keyCertSign,
  "crl sign": KeyUsageBit.cRLSign,
  "encipher only": KeyUsageBit.encipherOnly,
  "decipher only": KeyUsageBit.decipherOnly,
};

/** cfssl's extended key usage names and their OIDs. */
export const extKeyUsageNames: Record<string, string> = {
  any: "2.5.29.37.0",
  "server auth": "1.3.6.1.5.5.7.3.1",
  "client auth": "1.3.6.1.5.5.7.3.2",
  "code signing": "1.3.6.1.5.5.7.3.3",
  "email protection": "1.3.6.1.5.5.7.3.4",
  "s/mime": "1.3.6.1.5.5.7.3.4",
  "ipsec end system": "1.3.6.1.5.5.7.3.5",
  "ipsec tunnel": "1.3.6.1.5.5.7.3.6",
  "ipsec user": "1.3.6.1.5.5.7.3.7",
  timestamping: "1.3.6.1.5.5.7.3.8",
  "ocsp signing": "1.3.6.1.5.5.7.3.9",
  "microsoft sgc": "1.3.6.1.4.1.311.10.3.3",
  "netscape sgc": "2.16.840.1.113730.4.1",
};

export const knownUsages = [...Object.keys(keyUsageNames), ...Object.keys(extKeyUsageNames)];

export interface Usages {
  keyUsage: number;
  extKeyUsages: string[];
}

/** Maps usage names to bits and OIDs; returns the first unknown name instead when there is one. */
export function resolveUsages(names: readonly string[]): Usages | { unknown: string; index: number } {
  let keyUsage = 0;
  const extKeyUsages: string[] = [];
  for (const [index, name] of names.entries()) {
    const bit = keyUsageNames[name];
    const oid = extKeyUsageNames[name];
    if (bit !== undefined) keyUsage |= bit;
    else if (oid !== undefined) {
      if (!extKeyUsages.includes(oid)) extKeyUsages.push(oid);
    } else return { unknown: name, index };
  }
  return { keyUsage, extKeyUsages };
}
