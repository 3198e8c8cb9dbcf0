import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, sep } from "node:path";
import t from "tap";
import { root } from "./helpers/app.js";

const src = join(root, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** `pki/certificate.ts`: a path under src/, with forward slashes whatever the platform. */
function moduleName(path: string): string {
  return relative(src, path).split(sep).join("/");
}

// Static imports and re-exports (type-only ones too: they tie the layers as tightly) and dynamic
// import() calls, each possibly spread over several lines.
const specifiers = /(?:^|\n)\s*(?:import|export)\b[^;"']*?from\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** Each module of src/ and the modules of src/ it imports (packages and node: left out). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const path of sourceFiles(src)) {
    const from = moduleName(path);
    const imports: string[] = [];
    for (const match of readFileSync(path, "utf8").matchAll(specifiers)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith(".")) continue;
      imports.push(posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, ".ts"));
    }
    graph.set(from, imports);
  }
  return graph;
}

/** `pki` for `pki/certificate.ts`; `.` for a module at the top of src/ such as `errors.ts`. */
function folderOf(module: string): string {
  const dir = dirname(module);
  return dir === "." ? "." : dir.split("/")[0]!;
}

const graph = importGraph();

function importsOf(folder: string): { from: string; to: string }[] {
  return [...graph].flatMap(([from, imports]) => (folderOf(from) === folder ? imports.map((to) => ({ from, to })) : []));
}

t.test("every relative import names a module of src/", async (t) => {
  const unresolved = [...graph].flatMap(([from, imports]) => imports.filter((to) => !graph.has(to)).map((to) => `${from} → ${to}`));
  t.same(unresolved, [], "a missed import would hide an edge from the checks below");
  t.ok(graph.size > 50, "the source files were found");
});

t.test("pki/ is the core: it imports only pki/ and the error table", async (t) => {
  // errors.ts is the closed table of error kinds every layer answers with; it imports nothing.
  t.same(graph.get("errors.ts"), [], "errors.ts imports no module of src/");
  const outside = importsOf("pki").filter(({ to }) => folderOf(to) !== "pki" && to !== "errors.ts");
  t.same(outside.map(({ from, to }) => `${from} → ${to}`), []);
});

t.test("keys/ opens keys held outside the process: it imports only pki/ and the error table", async (t) => {
  // The threads that sign (authority/) and the start (cli/) open the CA key through it; it knows neither.
  const outside = importsOf("keys").filter(({ to }) => folderOf(to) !== "keys" && folderOf(to) !== "pki" && to !== "errors.ts");
  t.same(outside.map(({ from, to }) => `${from} → ${to}`), []);
});

t.test("model/ is the issued certificate's data: it imports only pki/ and the wire schemas", async (t) => {
  const outside = importsOf("model").filter(({ to }) => !["model", "pki", "schemas"].includes(folderOf(to)));
  t.same(outside.map(({ from, to }) => `${from} → ${to}`), []);
});

t.test("store/ knows nothing of the service above it", async (t) => {
  const upward = importsOf("store").filter(({ to }) => ["api", "cli", "authority"].includes(folderOf(to)));
  t.same(upward.map(({ from, to }) => `${from} → ${to}`), []);
});

t.test("api/ does not reach into cli/", async (t) => {
  const upward = importsOf("api").filter(({ to }) => folderOf(to) === "cli");
  t.same(upward.map(({ from, to }) => `${from} → ${to}`), []);
});

/** The first cycle found by a depth-first walk, as the modules along it; undefined when there is none. */
function findCycle(): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  function visit(module: string): string[] | undefined {
    state.set(module, "open");
    stack.push(module);
    for (const next of graph.get(module) ?? []) {
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(module, "done");
    return undefined;
  }
  for (const module of [...graph.keys()].sort()) {
    if (state.has(module)) continue;
    const cycle = visit(module);
    if (cycle) return cycle;
  }
  return undefined;
}

t.test("no module imports itself through others", async (t) => {
  t.same(findCycle() ?? [], [], "a cycle, from a module back to it");
});
