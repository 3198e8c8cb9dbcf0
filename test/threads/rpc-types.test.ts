// The thread boundary is typed from each worker's API: a call with the wrong method, arguments or
// result type does not compile. `tsc --noEmit` (npm test runs it) checks this file, and fails on a
// `@ts-expect-error` line that compiles, so each of them proves a mistake is caught.
import t from "tap";
import type { SignerApi } from "../../src/authority/signer-worker.js";
import type { WriterApi } from "../../src/store/writer-thread.js";
import type { SupervisedThread } from "../../src/threads/supervised-thread.js";

export function typeChecks(signer: SupervisedThread<SignerApi>, writer: SupervisedThread<WriterApi>): unknown[] {
  const request = { request: { CN: "svc.internal", hosts: ["svc.internal"] } };
  const keyPem = "-----BEGIN PRIVATE KEY-----";
  return [
    signer.call("newCert", request, keyPem, 1),
    // @ts-expect-error the request and the key swapped
    signer.call("newCert", keyPem, request, 1),
    // @ts-expect-error the config generation is a number
    signer.call("newCert", request, keyPem, "1"),
    // @ts-expect-error no such method in the signer's API
    signer.call("signAll", [request]),
    // @ts-expect-error a certificate to describe is a PEM string
    signer.call("describeCertificate", 2048),
    // @ts-expect-error missing the records
    writer.call("insertMany"),
    ((): Promise<{ subject: unknown }> => signer.call("describeCertificate", keyPem))(),
    // @ts-expect-error the answer is a description, not a number
    ((): Promise<number> => signer.call("describeCertificate", keyPem))(),
  ];
}

t.pass("the @ts-expect-error lines above fail to compile (checked by tsc --noEmit)");
