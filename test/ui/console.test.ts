// The operator console in a real browser (Debian's Chromium, headless) against the real service:
// the overview, a search for a certificate this test issued, its page, revoking it (reason and
// confirmation), then the revocation seen in the list, on the page's OCSP check and by openssl ocsp.
// Once without authentication, once with an admin token the console must ask for.
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import t, { type Test } from "tap";
import type { Page } from "puppeteer-core";
import { chromiumSkip, launchChromium, pageProblems } from "../helpers/chromium.js";
import { mustOpenssl, postJson, startService, tempDir, writeFile, type ServerProcess } from "../helpers/server.js";

const adminToken = "console-browser-admin-token-0123456789";

async function newCert(service: ServerProcess, cn: string): Promise<string> {
  const answer = await postJson(service.api, "newcert", { request: { CN: cn, hosts: [cn, "10.1.2.3"] }, profile: "server" });
  if (!answer.body.success) throw new Error(`newcert: ${JSON.stringify(answer.body.errors)}`);
  return answer.body.result.certificate;
}

/** The page's main view once it has finished drawing (the app marks it aria-busy=false). */
async function settled(page: Page): Promise<void> {
  await page.waitForSelector("main[aria-busy=false]");
}

/** The text as rendered, with line breaks between a term and its value (textContent runs them together). */
async function text(page: Page, selector: string): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is checked
  return page.$eval(selector, (element) => (element as HTMLElement).innerText);
}

function ocspByOpenssl(service: ServerProcess, certificatePath: string): string {
  const ca = join(service.cwd, "data", "ca.pem");
  return mustOpenssl(["ocsp", "-issuer", ca, "-cert", certificatePath, "-url", `${service.url}/ocsp`, "-CAfile", ca, "-no_nonce"]);
}

async function walkThrough(t: Test, token: string | undefined) {
  const cwd = tempDir(t);
  const service = await startService(t, { cwd, env: token ? { CERTWRIGHT_ADMIN_TOKEN: token } : {} });
  // One long word (no hyphen to break at) that a phone screen must still fit.
  const cn = `laptop.${token ? "token" : "open"}.stolen.office.building7.corp.internal.example.com`;
  const pem = await newCert(service, cn);
  await newCert(service, "other-host.internal");
  const certificatePath = writeFile(cwd, "laptop.pem", pem);
  const serialHex = new X509Certificate(pem).serialNumber.padStart(40, "0").toUpperCase();

  const { browser, close } = await launchChromium();
  t.teardown(close);
  const page = await browser.newPage();
  const problems = pageProblems(page);
  page.setDefaultTimeout(15_000);
  await page.setViewport({ width: 1280, height: 900 });

  await page.goto(`${service.url}/ui/`);
  await settled(page);
  if (token) {
    t.ok(await page.$("#login"), "the console asks for the admin token");
    await page.type("#token", "not-the-token");
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#login .error");
    t.match(await text(page, "#login .error"), /admin token is wrong/, "a wrong token is refused, and the console says so");
    await page.$eval("#token", (input) => ((input as HTMLInputElement).value = ""));
    await page.type("#token", token);
    await page.click("#login button[type=submit]");
  }
  await page.waitForSelector("#counts");
  t.match(await text(page, "#counts"), /2\s+good\s+0\s+revoked\s+0\s+expired/, "the overview counts what was issued");
  t.match(await text(page, "#ca"), /certwright CA/);
  t.match(await text(page, "#crl"), /CRL number\s+\d+/, "and shows the CRL's number");
  t.ok(await page.$("#issued svg rect.bar"), "and draws issuance per day");

  await page.click("nav a[href='#/certificates']");
  await page.waitForSelector("form.filters input[name=q]");
  await settled(page);
  await page.type("form.filters input[name=q]", ".STOLEN.office");
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("table.certificates tbody tr:not(.empty)").length === 1 && location.hash.includes("q="));
  await settled(page);
  t.match(await text(page, "table.certificates tbody"), cn, "the search finds the certificate, and only it");

  await page.click("table.certificates tbody a");
  await page.waitForSelector("#serial-hex");
  t.equal(await text(page, "#serial-hex"), serialHex, "its page shows the serial openssl prints");
  const details = await text(page, "main");
  t.match(details, /Key\s+ECDSA P-256/);
  t.match(details, /Extended key usages\s+server auth/);
  t.match(details, /10\.1\.2\.3/);
  t.match(details, /Requested by\s+address:127\.0\.0\.1/);
  await page.waitForSelector("#ocsp-status");
  t.equal(await text(page, "#ocsp-status"), "good", "OCSP says good before");

  await page.select("#revoke-reason", "keyCompromise");
  await page.click("#revoke button[type=submit]");
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.ok(await page.$("#revoke"), "without the confirmation nothing is revoked");
  await page.click("#revoke-confirm");
  await page.click("#revoke button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("#revoke") && document.querySelector("#ocsp-status"));
  t.equal(await text(page, "h1 .badge"), "revoked", "the page shows it revoked");
  t.equal(await text(page, "#ocsp-status"), "revoked", "and the responder says so");
  t.match(await text(page, "#ocsp"), /Reason\s+keyCompromise/);
  t.notMatch(await text(page, "main"), /\b(null|undefined|NaN)\b/, "no value missing from what is shown");

  await page.goBack();
  await settled(page);
  await page.waitForSelector("table.certificates tbody .badge");
  t.equal(await text(page, "table.certificates tbody .badge"), "revoked", "the list shows it revoked");

  await page.click("nav a[href='#/profiles']");
  await page.waitForSelector("#profile-server");
  t.match(await text(page, "#profile-server"), /Usages\s+signing, key encipherment, server auth/, "the profiles page shows each profile's policy");
  await page.click("nav a[href='#/']");
  await page.waitForSelector("#crl");
  t.match(await text(page, "#crl"), /Certificates listed\s+1/, "the CRL lists the revoked certificate");
  await page.goBack();
  await page.goBack();
  await settled(page);

  const ocsp = ocspByOpenssl(service, certificatePath);
  t.match(ocsp, /: revoked\n/, "openssl ocsp agrees");
  t.match(ocsp, /Reason: keyCompromise/);

  // A phone: the table becomes cards, and nothing is wider than the screen.
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  await page.reload();
  await settled(page);
  // Against the screen's width: a mobile browser widens its viewport to content that overflows.
  const fits = async () => (await page.$eval("html", (html) => html.scrollWidth)) <= 390;
  t.ok(await fits(), "no sideways scrolling on a phone: the list");
  await page.click("table.certificates tbody a");
  await page.waitForSelector("#ocsp-status");
  t.ok(await fits(), "nor on a certificate's page");

  if (token) {
    t.notMatch(page.url(), token, "the token is never in a URL");
    t.equal(await page.evaluate(() => sessionStorage.getItem("certwright.admin-token")), token, "it is kept for the session");
    await page.click("#sign-out");
    await page.waitForSelector("#login");
    t.equal(await page.evaluate(() => sessionStorage.length), 0, "signing out forgets it");
  }
  t.same(problems, [], "no script errors and nothing the CSP refused");
}

t.test("the console in Chromium", { skip: chromiumSkip }, async (t) => {
  await t.test("without authentication", async (t) => walkThrough(t, undefined));
  await t.test("with an admin token", async (t) => walkThrough(t, adminToken));
});
