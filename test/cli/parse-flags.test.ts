// The one flag parser of serve and the client commands: cfssl's single-dash form, values and
// positionals kept as written, and the messages of each kind of bad usage.
import t from "tap";
import { parseFlags, type FlagDefinition } from "../../src/cli/parse-flags.js";
import { UsageError } from "../../src/cli/usage-error.js";

const definitions: FlagDefinition[] = [
  { name: "hosts", value: "LIST", aliases: ["hostname"] },
  { name: "f", value: "FILE" },
  { name: "force" },
];
const client = (argv: string[]) => parseFlags(argv, definitions, { command: "x", positionals: true, switchValues: false });
const serve = (argv: string[]) => parseFlags(argv, definitions, { command: "serve", positionals: false, switchValues: true });

t.test("the forms of a flag, aliases, and the last of a repeated flag", async (t) => {
  t.same(client(["--hosts", "a", "-f", "in.json", "--force"]), { flags: new Map([["hosts", "a"], ["f", "in.json"], ["force", "true"]]), positionals: [] });
  t.same(client(["-hosts=a,b", "--f=x=y"]), { flags: new Map([["hosts", "a,b"], ["f", "x=y"]]), positionals: [] });
  t.same(client(["--hostname", "a", "--hosts", "b"]), { flags: new Map([["hosts", "b"]]), positionals: [] }, "an alias is stored under the flag's name");
  t.same(client(["--hosts="]), { flags: new Map([["hosts", ""]]), positionals: [] });
});

t.test("values and positionals stay as written, dashes included", async (t) => {
  t.same(client(["--hosts", "-x", "--f", "--"]), { flags: new Map([["hosts", "-x"], ["f", "--"]]), positionals: [] });
  t.same(client(["a", "-", "--", "-force", "--hosts"]), { flags: new Map(), positionals: ["a", "-", "-force", "--hosts"] });
});

t.test("help, wherever it comes before an error", async (t) => {
  for (const help of ["--help", "-help", "-h", "--h"]) t.equal(client(["--force", help, "--nope"]), "help", help);
  t.throws(() => client(["--nope", "--help"]), new UsageError('unknown flag "--nope"; see certwright x --help'));
  t.same(client(["--hosts", "--help"]), { flags: new Map([["hosts", "--help"]]), positionals: [] }, "a value, not help");
});

t.test("bad usage, with the argument as it was written", async (t) => {
  t.throws(() => client(["-nope=1"]), new UsageError('unknown flag "-nope=1"; see certwright x --help'));
  t.throws(() => client(["-Px"]), new UsageError('unknown flag "-Px"; see certwright x --help'));
  t.throws(() => client(["--force=yes"]), new UsageError("--force takes no value"));
  t.same(client(["--force=true"]), { flags: new Map([["force", "true"]]), positionals: [] });
  t.throws(() => client(["--hosts"]), new UsageError("flag --hosts needs a value (LIST)"));
  t.throws(() => serve(["extra"]), new UsageError('unexpected argument "extra"; see certwright serve --help'));
  t.throws(() => serve(["--"]), new UsageError('unexpected argument "--"; see certwright serve --help'));
  t.throws(() => serve(["-Px"]), new UsageError('unexpected argument "-Px"; see certwright serve --help'));
  t.throws(() => serve(["--nope"]), new UsageError('unknown flag "--nope"; see certwright serve --help'));
  t.same(serve(["--force=false"]), { flags: new Map([["force", "false"]]), positionals: [] }, "serve's switches keep their value for the caller to check");
});
