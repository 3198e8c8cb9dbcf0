// Every --flag the README and docs/ mention is one that certwright's --help lists (or another tool's,
// named below), and a flag on a `certwright <command>` line is one that command takes.
import { spawnSync } from "node:child_process";
import t from "tap";
import { root } from "../helpers/app.js";
import { docPages, readPage } from "../helpers/docs.js";
import { childEnv, mainJs } from "../helpers/server.js";

const commands = ["serve", "initca", "gencert", "sign", "info", "json", "renew", "revoke", "list", "backup", "migrate-db"];

/** Flags of the other programs the docs run, so that a certwright flag that went away is not taken for one of them. */
const otherTools: Record<string, string> = {
  "--arg": "jq",
  "--argjson": "jq",
  "--rawfile": "jq",
  "--cacert": "curl",
  "--retry": "curl",
  "--retry-delay": "curl",
  "--retry-connrefused": "curl",
  "--system": "useradd",
  "--home-dir": "useradd",
  "--shell": "useradd",
  "--now": "systemctl",
  "--silent": "npm",
  "--latency": "wrk",
  "--max-semi-space-size": "node",
  "--heap-growing-percent": "node",
  "--build-snapshot": "node",
  "--noEmit": "tsc",
  "--init-token": "softhsm2-util",
  "--free": "softhsm2-util",
  "--so-pin": "softhsm2-util",
  "--import": "softhsm2-util",
  "--token": "softhsm2-util",
  "--id": "softhsm2-util",
  "--pin": "softhsm2-util, pkcs11-tool",
  "--module": "pkcs11-tool",
  "--login": "pkcs11-tool",
  "--list-objects": "pkcs11-tool",
  "--type": "pkcs11-tool",
  "--keypairgen": "pkcs11-tool",
  "--standalone": "certbot",
  "--agree-tos": "certbot",
  "--register-unsafely-without-email": "certbot",
  "--eab-kid": "certbot",
  "--cert-path": "certbot",
  "--force-renewal": "certbot",
  "--preferred-challenges": "certbot",
  "--http-01-port": "certbot",
  "--http-01-address": "certbot",
  "--tls": "lego",
  "--dns": "lego",
  "--key-type": "lego",
  "--eab-hmac-key": "certbot",
  "--server": "certbot, lego",
  "--accept-tos": "lego",
  "--email": "lego",
  "--domains": "lego",
  "--http": "lego",
  "--days": "lego",
  "--eab": "lego",
  "--kid": "lego",
  "--hmac": "lego",
  "--base64url": "basenc",
};

const flagPattern = /(?<![\w-])--[a-z][A-Za-z0-9-]*/g;

/** Each command's flags, as its --help lists them (run once, for both tests). */
const helpFlags = new Map<string, Set<string>>();
const helpExits: Record<string, number | null> = {};
for (const command of commands) {
  const help = spawnSync(process.execPath, [mainJs, command, "--help"], { cwd: root, env: childEnv(), encoding: "utf8" });
  helpExits[command] = help.status;
  helpFlags.set(command, new Set(help.stdout.match(flagPattern) ?? []));
}

/** The docs' text with shell line continuations joined, so a command and its flags are on one line. */
const joined = (text: string) => text.replace(/\\\n\s*/g, " ");

t.test("each --flag in the docs is certwright's or a named other tool's", async (t) => {
  t.same(helpExits, Object.fromEntries(commands.map((command) => [command, 0])), "every certwright <command> --help exits 0");
  const known = new Set([...helpFlags.values()].flatMap((flags) => [...flags]));
  const usedOther = new Set<string>();
  for (const page of docPages()) {
    for (const flag of new Set(readPage(page).match(flagPattern) ?? [])) {
      if (known.has(flag)) continue;
      if (flag in otherTools) {
        usedOther.add(flag);
        continue;
      }
      t.fail(`${page}: ${flag} is in no certwright --help (and is not a flag of the tools listed in this test)`);
    }
  }
  t.same([...usedOther].sort(), Object.keys(otherTools).sort(), "each other tool's flag listed here is still in the docs");
});

t.test("the flags on a `certwright <command>` or `npm start --` line are that command's", async (t) => {
  let checked = 0;
  for (const page of docPages()) {
    for (const line of joined(readPage(page)).split("\n")) {
      for (const match of line.matchAll(/(?:certwright (\w+)|npm start (?:--silent )?--)((?:(?![|;`&]).)*)/g)) {
        const command = match[1] ?? "serve";
        const flags = helpFlags.get(command);
        if (!flags) continue;
        for (const flag of match[2]!.match(flagPattern) ?? []) {
          if (flag === "--help") continue;
          t.ok(flags.has(flag), `${page}: certwright ${command} takes ${flag}`);
          checked++;
        }
      }
    }
  }
  t.ok(checked > 40, `${checked} flags checked on command lines`);
});
