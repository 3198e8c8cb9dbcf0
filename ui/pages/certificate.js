import { bytes, call } from "../api.js";
import { copyButton, date, daysFromNow, definitions, errorBox, h, show, statusBadge } from "../dom.js";
import { certificateFacts, ocspRequest, ocspStatus, reasonNames } from "../pki.js";

const revocationReasons = reasonNames.filter((r) => r && r !== "removeFromCRL");

function name(info) {
  return [info.common_name && `CN=${info.common_name}`, info.organizational_unit && `OU=${info.organizational_unit}`, info.organization && `O=${info.organization}`, info.country && `C=${info.country}`]
    .filter(Boolean)
    .join(", ");
}

/** Asks the service's OCSP responder, as any client would (needs WebCrypto: HTTPS or localhost). */
async function ocspSection(summary) {
  if (!globalThis.crypto?.subtle) return h("p", {}, "The OCSP check needs the console over HTTPS (or on localhost).");
  try {
    const { result: info } = await call("/api/v1/cfssl/info", { method: "POST", body: {} });
    const request = await ocspRequest(info.certificate, summary.serial_hex);
    const answer = ocspStatus(await bytes("/ocsp", { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: request }));
    return definitions([
      ["Status", h("span", { id: "ocsp-status" }, statusBadge(answer.status))],
      ["Revoked at", answer.revokedAt ? date(answer.revokedAt.toISOString()) : undefined],
      ["Reason", answer.reason],
      ["This update", answer.thisUpdate ? date(answer.thisUpdate.toISOString()) : undefined],
      ["Next update", answer.nextUpdate ? date(answer.nextUpdate.toISOString()) : undefined],
    ]);
  } catch (error) {
    return errorBox(error);
  }
}

function revokeForm(summary, onRevoked) {
  const reason = h("select", { name: "reason", id: "revoke-reason" }, revocationReasons.map((r) => h("option", { value: r }, r)));
  const confirmBox = h("input", { type: "checkbox", name: "confirm", id: "revoke-confirm", required: true });
  const message = h("p", { role: "status" });
  const form = h("form", { class: "revoke", id: "revoke" },
    h("h2", {}, "Revoke"),
    h("label", {}, "Reason", reason),
    h("label", { class: "check" }, confirmBox, `Yes, revoke ${summary.common_name || summary.serial_hex}: it cannot be undone`),
    h("button", { type: "submit", class: "danger" }, "Revoke"),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!confirmBox.checked) return;
    try {
      await call("/api/v1/cfssl/revoke", { method: "POST", body: { serial: summary.serial_number, authority_key_id: summary.authority_key_id, reason: reason.value } });
      onRevoked();
    } catch (error) {
      message.textContent = error.message;
    }
  });
  return form;
}

/** One certificate: its decoded fields, PEM, OCSP status, and revoking it. */
export async function certificatePage(view, serial, params) {
  const aki = params.get("aki");
  const { result: summary } = await call(`/api/v1/certificates/${encodeURIComponent(serial)}${aki ? `?authority_key_id=${encodeURIComponent(aki)}` : ""}`);
  const [{ result: info }, ocsp] = await Promise.all([
    call("/api/v1/cfssl/certinfo", { method: "POST", body: { certificate: summary.pem } }),
    ocspSection(summary),
  ]);
  let facts;
  try {
    facts = certificateFacts(summary.pem);
  } catch {
    facts = { key: "(unreadable)", keyUsages: [], extKeyUsages: [] };
  }
  const pemUrl = URL.createObjectURL(new Blob([summary.pem], { type: "application/x-pem-file" }));
  const reload = () => certificatePage(view, serial, params).catch((error) => show(view, errorBox(error)));
  show(
    view,
    h("h1", {}, summary.common_name || "(no CN)", " ", statusBadge(summary.status)),
    h("section", { class: "card wide" },
      definitions([
        ["Subject", name(info.subject)],
        ["SANs", info.sans.length > 0 ? h("ul", {}, info.sans.map((s) => h("li", {}, s))) : "none"],
        ["Issuer", name(info.issuer)],
        ["Not before", date(info.not_before)],
        ["Not after", `${date(info.not_after)} (${daysFromNow(info.not_after)})`],
        ["Serial (hex)", h("span", {}, h("code", { id: "serial-hex" }, summary.serial_hex), copyButton(summary.serial_hex))],
        ["Serial (decimal)", h("span", {}, h("code", {}, summary.serial_number), copyButton(summary.serial_number))],
        ["Key", facts.key],
        ["Signature", info.sigalg],
        ["Key usages", facts.keyUsages.join(", ") || "none"],
        ["Extended key usages", facts.extKeyUsages.join(", ") || "none"],
        ["Profile", summary.profile],
        ["CA label", summary.ca_label || "(default)"],
        ["Subject key id", h("code", {}, info.subject_key_id)],
        ["Authority key id", h("code", {}, info.authority_key_id)],
        ["Issued", date(summary.issued_at)],
        ["Requested by", summary.requested_by ?? "unknown"],
        ["Status", statusBadge(summary.status)],
        ["Revoked at", summary.revoked_at ? date(summary.revoked_at) : undefined],
        ["Reason", summary.reason],
      ]),
    ),
    h("section", { class: "card", id: "ocsp" }, h("h2", {}, "OCSP"), ocsp),
    h("section", { class: "card wide" },
      h("h2", {}, "PEM"),
      h("pre", { class: "pem" }, summary.pem),
      h("div", { class: "actions" },
        h("a", { class: "button", href: pemUrl, download: `${summary.serial_hex}.pem` }, "Download PEM"),
        copyButton(summary.pem, "Copy PEM"),
      ),
    ),
    summary.status === "revoked" ? null : h("section", { class: "card" }, revokeForm(summary, reload)),
  );
}
