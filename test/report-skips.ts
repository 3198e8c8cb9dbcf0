// Run by tap after every test file (package.json "after"): one line naming what this machine
// could not test, so a green run on a laptop says what it did not cover. CI installs all of it.
import { chromiumSkip } from "./helpers/chromium.js";
import { missingRecipeTools } from "./helpers/docs.js";
import { postgresSkip } from "./helpers/postgres.js";
import { softhsmSkip } from "./helpers/softhsm.js";
import { cfsslSkip } from "./helpers/cfssl.js";
import { acmeClientsSkip } from "./helpers/acme-clients.js";

const skipped = [
  postgresSkip && "PostgreSQL (apt-get install postgresql)",
  chromiumSkip && "the console in Chromium (apt-get install chromium)",
  softhsmSkip && "CA keys in a PKCS#11 module (apt-get install softhsm2)",
  cfsslSkip && "cfssl's own client with labels (apt-get install golang-cfssl)",
  acmeClientsSkip && "certbot and lego against the ACME server (apt-get install certbot lego)",
  missingRecipeTools.length > 0 && `the docs' recipes (apt-get install ${missingRecipeTools.join(" ")})`,
].filter(Boolean);
if (skipped.length > 0) console.log(`# skipped here, run in CI: ${skipped.join("; ")}`);
