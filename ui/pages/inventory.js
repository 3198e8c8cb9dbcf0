import { call, query } from "../api.js";
import { date, errorBox, h, show, statusBadge } from "../dom.js";

const columns = [
  ["common_name", "Common name"],
  ["serial_hex", "Serial"],
  ["status", "Status"],
  ["profile", "Profile"],
  ["not_after", "Expires"],
  ["issued_at", "Issued"],
  ["requested_by", "Requested by"],
];

// Decimal: the API reads a serial of digits only as decimal first, and a hex serial can be all digits.
const certificateLink = (c) => `#/certificate/${c.serial_number}?aki=${c.authority_key_id}`;

function row(c) {
  const names = [c.common_name, ...c.sans.filter((s) => s !== c.common_name)].join(", ");
  return h("tr", {},
    h("td", { "data-label": "Common name" }, h("a", { href: certificateLink(c), title: names }, c.common_name || "(no CN)"), c.sans.length > 0 ? h("small", {}, c.sans.join(", ")) : null),
    h("td", { "data-label": "Serial" }, h("code", {}, c.serial_hex)),
    h("td", { "data-label": "Status" }, statusBadge(c.status)),
    h("td", { "data-label": "Profile" }, c.profile),
    h("td", { "data-label": "Expires" }, date(c.not_after)),
    h("td", { "data-label": "Issued" }, date(c.issued_at)),
    h("td", { "data-label": "Requested by" }, c.requested_by ?? ""),
  );
}

/**
 * A table of certificates whose column headers sort the rows shown (the API lists in one order,
 * newest or soonest to expire first; sorting here never fetches again).
 */
export function certificateTable(certificates) {
  let sortedBy;
  let ascending = true;
  const empty = h("tr", { class: "empty" }, h("td", { colspan: columns.length }, "No certificates."));
  const body = h("tbody", {}, certificates.length > 0 ? certificates.map(row) : empty);
  const sort = (key, th) => {
    ascending = sortedBy === key ? !ascending : true;
    sortedBy = key;
    const sorted = [...certificates].sort((a, b) => String(a[key] ?? "").localeCompare(String(b[key] ?? "")) * (ascending ? 1 : -1));
    body.replaceChildren(...sorted.map(row));
    for (const other of th.parentElement.children) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  };
  const head = h("tr", {}, columns.map(([key, label]) => {
    const th = h("th", { scope: "col" });
    th.append(h("button", { type: "button", onclick: () => sort(key, th) }, label));
    return th;
  }));
  const table = h("table", { class: "certificates" }, h("thead", {}, head), body);
  table.addRows = (more) => {
    if (more.length > 0) empty.remove();
    certificates.push(...more);
    body.append(...more.map(row));
  };
  return table;
}

const filterFields = ["q", "status", "profile", "label", "expiring_within", "issued_after", "issued_before"];

function filterForm(params, profiles) {
  const input = (name, label, attributes = {}) =>
    h("label", {}, label, h("input", { name, value: params.get(name) ?? "", ...attributes }));
  const status = h("select", { name: "status" }, ["", "good", "revoked", "expired"].map((s) => h("option", { value: s, selected: params.get("status") === s }, s || "any")));
  const profile = h("select", { name: "profile" }, ["", ...profiles].map((p) => h("option", { value: p, selected: params.get("profile") === p }, p || "any")));
  const form = h("form", { class: "filters", role: "search" },
    input("q", "Search", { type: "search", placeholder: "CN, SAN or email", autofocus: true }),
    h("label", {}, "Status", status),
    h("label", {}, "Profile", profile),
    input("label", "CA label"),
    input("expiring_within", "Expiring within", { placeholder: "30d" }),
    input("issued_after", "Issued after", { type: "date" }),
    input("issued_before", "Issued before", { type: "date" }),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    location.hash = `#/certificates${query(Object.fromEntries(filterFields.map((f) => [f, data.get(f)])))}`;
  });
  return form;
}

/** The inventory with its filters, a page at a time along next_cursor. */
export async function inventoryPage(view, params) {
  const filters = Object.fromEntries(filterFields.map((f) => [f, params.get(f) ?? undefined]));
  const [profiles, first] = await Promise.all([
    call("/api/v1/admin/profiles").then((e) => e.result.profiles.map((p) => p.name), () => []),
    call(`/api/v1/certificates${query({ ...filters, limit: 50 })}`).catch((error) => error),
  ]);
  const header = [h("h1", {}, "Certificates"), filterForm(params, profiles)];
  // A filter the API refuses is shown under the form; a missing token goes up to be asked for.
  if (first instanceof Error && first.needsToken) throw first;
  if (first instanceof Error) return show(view, ...header, errorBox(first));
  const table = certificateTable(first.result.certificates);
  const notes = h("div", { class: "notes" }, first.messages.map((m) => h("p", {}, m.message)));
  let cursor = first.result.next_cursor;
  const more = h("button", { type: "button", class: "more", hidden: cursor === null }, "Next page");
  more.addEventListener("click", async () => {
    more.disabled = true;
    const { result, messages } = await call(`/api/v1/certificates${query({ ...filters, limit: 50, cursor })}`);
    table.addRows(result.certificates);
    notes.replaceChildren(...messages.map((m) => h("p", {}, m.message)));
    cursor = result.next_cursor;
    more.hidden = cursor === null;
    more.disabled = false;
  });
  show(view, ...header, table, notes, more);
}
