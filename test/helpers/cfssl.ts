// cfssl's own command line, from Debian's golang-cfssl: its remote signer is what certmgr uses.
import { spawnSync } from "node:child_process";

/** Why the tests with cfssl's client cannot run here (false: they can); CI (CERTWRIGHT_REQUIRE_CFSSL=1) never skips them. */
export const cfsslSkip: string | false =
  spawnSync("cfssl", ["version"]).status === 0 || process.env.CERTWRIGHT_REQUIRE_CFSSL === "1" ? false : "cfssl is not installed (apt-get install golang-cfssl); its client was not tried";
