// Debian's Chromium, headless, for the console's browser tests and screenshots (puppeteer-core
// drives it; it downloads no browser of its own). Without it those tests are skipped, unless
// CERTWRIGHT_REQUIRE_CHROMIUM=1 (CI) makes its absence a failure.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here (false: they can, or must). */
export const chromiumSkip: string | false =
  existsSync(chromiumPath) || process.env.CERTWRIGHT_REQUIRE_CHROMIUM === "1"
    ? false
    : `no Chromium at ${chromiumPath} (apt-get install chromium); the console's browser tests were skipped`;

/**
 * Starts Chromium with a fresh profile. As root it needs --no-sandbox; the other flags stop its
 * background connections (updates, sync, QUIC probes), which fail on a closed network and slow it.
 */
export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "certwright-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    userDataDir: profile,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Collects what a page reports as wrong: uncaught errors, console errors (CSP refusals among them), failed loads but the API's refusals. */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error instanceof Error ? error.message : String(error)}`));
  page.on("console", (message) => {
    // Chromium logs every 401 and 403 the API answers; asking for the token is the console's job.
    const refusal = /^Failed to load resource: the server responded with a status of 40[13]\b/.test(message.text());
    if (message.type() === "error" && !refusal) problems.push(`console: ${message.text()}`);
  });
  return problems;
}
