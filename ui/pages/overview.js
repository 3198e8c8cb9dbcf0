import { bytes, call } from "../api.js";
import { barChart } from "../chart.js";
import { date, daysFromNow, definitions, errorBox, h, show } from "../dom.js";
import { crlFacts } from "../pki.js";
import { certificateTable } from "./inventory.js";

async function crlSection() {
  try {
    const crl = crlFacts(await bytes("/crl/default.crl"));
    return definitions([
      ["CRL number", crl.number ?? "none"],
      ["This update", date(crl.thisUpdate.toISOString())],
      ["Next update", crl.nextUpdate ? `${date(crl.nextUpdate.toISOString())} (${daysFromNow(crl.nextUpdate.toISOString())})` : "none"],
      ["Certificates listed", String(crl.entries)],
      ["Distribution point", h("a", { href: "/crl/default.crl", download: "ca.crl" }, "/crl/default.crl")],
    ]);
  } catch (error) {
    return errorBox(error);
  }
}

/** The CA, the totals, issuance per day, what expires next and the CRL. */
export async function overviewPage(view) {
  const [{ result: overview }, { result: expiring }, crl] = await Promise.all([
    call("/api/v1/admin/overview?days=30"),
    call("/api/v1/certificates?status=good&expiring_within=3650d&limit=10"),
    crlSection(),
  ]);
  const { ca, counts } = overview;
  const total = (status, n) => h("a", { class: `total ${status}`, href: `#/certificates?status=${status}` }, h("strong", {}, String(n)), h("span", {}, status));
  show(
    view,
    h("h1", {}, "Overview"),
    h("section", { class: "card", id: "ca" },
      h("h2", {}, "Certificate authority"),
      definitions([
        ["Subject", ca.subject],
        ["Label", ca.label || "(default)"],
        ["Key id", h("code", {}, ca.subject_key_id)],
        ["Expires", `${date(ca.not_after)} (${daysFromNow(ca.not_after)})`],
      ]),
    ),
    h("section", { class: "card", id: "counts" },
      h("h2", {}, "Certificates"),
      h("div", { class: "totals" }, total("good", counts.good), total("revoked", counts.revoked), total("expired", counts.expired)),
      h("p", { class: "hint" }, `counted at ${date(overview.at)}`),
    ),
    h("section", { class: "card wide", id: "issued" }, h("h2", {}, "Issued per day, last 30 days"), barChart(overview.issued_per_day)),
    h("section", { class: "card wide", id: "expiring" }, h("h2", {}, "Next to expire"), certificateTable(expiring.certificates)),
    h("section", { class: "card", id: "crl" }, h("h2", {}, "Revocation list"), crl),
  );
}
