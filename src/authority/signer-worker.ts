// A worker thread that signs: it loads the CAs and the signing configs itself (a parsed config holds
// regular expressions and address lists, which do not cross threads) and serves SignerApi. A reload
// sends the new config documents, which the thread parses and keeps beside the older generations
// that requests in flight may still name.
import { workerData } from "node:worker_threads";
import { openCertificateAuthority, type CaKeyData } from "../keys/ca-key.js";
import type { CaUrls } from "../pki/certificate.js";
import { CaSet } from "./ca-set.js";
import { parseSigningConfigs, type SigningConfigDocuments } from "../profiles/signing-configs.js";
import type { NewCertRequest, SignRequest } from "../schemas/wire.js";
import { lowerThreadPriority } from "../threads/priority.js";
import { serveApi } from "../threads/rpc.js";
import { Signer } from "./signer.js";

/** A CA as a thread opens it: its certificate PEM, its key, its label, and its own URLs if any. */
export interface ThreadCa extends CaKeyData {
  caCertificate: string;
  label: string;
  urls?: CaUrls | undefined;
}

/**
 * What SignerPool.start needs: the default CA's certificate PEM and its key, the CAs served beside
 * it by label (none: one CA), and the signing config documents it starts with: --config's, and
 * those of the CAs with their own config, by label.
 */
export interface SignerWorkerData extends ThreadCa {
  others?: ThreadCa[] | undefined;
  configDocument: unknown;
  caConfigDocuments?: Record<string, unknown> | undefined;
}

/** One generation of the signing configs, as documents. */
export interface ConfigDocumentGeneration {
  generation: number;
  documents: SigningConfigDocuments;
}

/** What a thread starts with: the CAs, and the config generations kept so far, oldest first. */
export interface SignerThreadData extends ThreadCa {
  others?: ThreadCa[] | undefined;
  configs: ConfigDocumentGeneration[];
}

// Signing is the stage that can always use more CPU; the HTTP thread and the database writer,
// which answer and record what it signed, go first when they have work, so certificates already
// signed do not wait behind new ones (and the CPU they leave is still all signing's).
lowerThreadPriority(5);

const data = workerData as SignerThreadData;
const openCa = async (ca: ThreadCa) => Object.assign(await openCertificateAuthority(ca.caCertificate, ca, ca.label), ca.urls ? { urls: ca.urls } : {});

/** The CAs and the config generations kept so far, oldest first, loaded into a Signer. */
async function openSigner(): Promise<Signer> {
  const [first, ...later] = data.configs;
  const signer = new Signer(new CaSet(await openCa(data), await Promise.all((data.others ?? []).map(openCa))), parseSigningConfigs(first!.documents), undefined, first!.generation);
  for (const { generation, documents } of later) await signer.useConfig(generation, parseSigningConfigs(documents));
  return signer;
}

/** What a signer thread does, called through SignerPool. */
function signerApiOf(signer: Signer) {
  return {
    sign: (request: SignRequest, generation?: number) => signer.sign(request, generation),
    newCert: (request: NewCertRequest, keyPem?: string, generation?: number) => signer.newCert(request, keyPem, generation),
    reissue: (certificatePem: string, label?: string) => signer.reissue(certificatePem, label),
    useConfig: ({ generation, documents }: ConfigDocumentGeneration) => signer.useConfig(generation, parseSigningConfigs(documents)),
    async describeCertificate(pem: string) {
      // certinfo: parsing a PEM of up to 64 KiB with @peculiar/x509 takes tens of milliseconds,
      // which on the HTTP thread every other request waited for. Loaded on first use, as there.
      const { describeCertificate, parseCertificatePem } = await import("../pki/describe.js");
      return describeCertificate(parseCertificatePem(pem));
    },
  };
}

export type SignerApi = ReturnType<typeof signerApiOf>;

// Not a top-level await: the service's bundle is CommonJS (src/bundle/build.ts). A CA that cannot
// be opened rejects, and the unhandled rejection ends the thread with that error, as a throw would.
void openSigner().then((signer) => {
  // Four calls of a batch run before their replies leave: the HTTP thread records and answers
  // those while this thread signs the rest, so neither waits for a whole batch (see SignerPool).
  serveApi(signerApiOf(signer), { callsPerReply: 4 });
});
