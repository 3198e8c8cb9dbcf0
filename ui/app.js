// The console: a page per hash route, each drawn from the API; the admin token asked for when the
// API says one is needed.
import { adminToken } from "./api.js";
import { errorBox, h, show } from "./dom.js";
import { certificatePage } from "./pages/certificate.js";
import { inventoryPage } from "./pages/inventory.js";
import { overviewPage } from "./pages/overview.js";
import { profilesPage } from "./pages/profiles.js";

let view = document.getElementById("view");
const signOut = document.getElementById("sign-out");
/** Counts renders, so a slow page that finishes after a newer one started never replaces it. */
let renders = 0;

/** Draws the page the address names into `target`. */
function draw(target) {
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(search);
  const certificate = /^\/certificate\/([^/]+)$/.exec(path);
  if (certificate) return certificatePage(target, decodeURIComponent(certificate[1]), params);
  if (path === "/certificates") return inventoryPage(target, params);
  if (path === "/profiles") return profilesPage(target);
  return overviewPage(target);
}

function tokenForm(error) {
  const input = h("input", { type: "password", name: "token", id: "token", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card login", id: "login" },
    h("h1", {}, "Admin token"),
    h("p", {}, "This service needs its admin token (the one in --admin-token-file or CERTWRIGHT_ADMIN_TOKEN). It is kept in this tab until you sign out or close it."),
    error ? h("p", { class: "error", role: "alert" }, error.message) : null,
    h("label", {}, "Token", input),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    adminToken.set(input.value);
    render();
  });
  return form;
}

/** Draws the page off-screen, then swaps it in: the last page asked for is the one shown. */
async function render() {
  const mine = ++renders;
  signOut.hidden = adminToken.get() === null;
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", location.hash.split("?")[0] === link.getAttribute("href") || (location.hash === "" && link.getAttribute("href") === "#/"));
  }
  view.setAttribute("aria-busy", "true");
  const next = view.cloneNode(false);
  try {
    await draw(next);
  } catch (error) {
    if (error.needsToken) show(next, tokenForm(adminToken.get() === null ? undefined : error));
    else show(next, errorBox(error));
  }
  if (mine !== renders) return;
  next.setAttribute("aria-busy", "false");
  view.replaceWith(next);
  view = next;
}

signOut.addEventListener("click", () => {
  adminToken.clear();
  render();
});
addEventListener("hashchange", render);
render();
