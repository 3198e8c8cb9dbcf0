import { call } from "../api.js";
import { definitions, h, show } from "../dom.js";

const yes = (flag) => (flag ? "yes" : "no");

function profileCard(p) {
  return h("section", { class: "card", id: `profile-${p.name}` },
    h("h2", {}, p.name),
    definitions([
      ["Usages", p.usages.join(", ")],
      ["Expiry", p.expiry],
      ["CA", p.ca_constraint.is_ca ? `yes${p.ca_constraint.max_path_len === null ? "" : `, path length ${p.ca_constraint.max_path_len}`}` : "no"],
      ["Auth key", p.auth_key ?? "none (open)"],
      ["Client certificate", yes(p.require_client_certificate)],
      ["Own names only", yes(p.own_names_only)],
      ["Name whitelist", p.name_whitelist ?? undefined],
      ["Beyond CA expiry", p.beyond_ca_expiry],
      ["CRL URL", p.crl_url ?? undefined],
      ["OCSP URL", p.ocsp_url ?? undefined],
      ["Issuer URLs", p.issuer_urls.length > 0 ? p.issuer_urls.join(", ") : undefined],
      ["Policy", p.policy ? h("pre", {}, JSON.stringify(p.policy, null, 2)) : "any names"],
    ]),
  );
}

/** The signing profiles in force, read-only: they change by editing the config and reloading. */
export async function profilesPage(view) {
  const { result } = await call("/api/v1/admin/profiles");
  show(view, h("h1", {}, "Profiles"), h("p", { class: "hint" }, "Read-only: edit the signing config and reload (SIGHUP) to change them."), h("div", { class: "grid" }, result.profiles.map(profileCard)));
}
