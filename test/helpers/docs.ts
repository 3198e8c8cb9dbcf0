// Reading the README and docs/*.md as the tests of test/docs/ need them: pages, fenced blocks, links, anchors.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { root } from "./app.js";

/** The README and every page of docs/, as paths relative to the package root. */
export function docPages(): string[] {
  const pages = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...pages];
}

export function readPage(page: string): string {
  return readFileSync(join(root, page), "utf8");
}

export interface FencedBlock {
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string: `sh`, `json`, `ini`… */
  lang: string;
  /**
   * The words of a `<!-- doc-test: run, check output -->` comment on the line before the fence: how
   * the tests use the block (a reader does not see the comment).
   */
  marks: string[];
  code: string;
}

const markPattern = /^<!--\s*doc-test:\s*(.*?)\s*-->$/;

export function fencedBlocks(page: string, text = readPage(page)): FencedBlock[] {
  const lines = text.split("\n");
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    const mark = markPattern.exec(lines[start - 1]?.trim() ?? "");
    const marks = mark ? mark[1]!.split(",").map((word) => word.trim()).filter(Boolean) : [];
    blocks.push({ page, line: start + 1, lang: open[1]!, marks, code: body.join("\n") });
  }
  return blocks;
}

function withoutFences(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```\s*$/gm, "");
}

/** The page without its fenced blocks and inline code, where links and prose live. */
export function proseOf(text: string): string {
  return withoutFences(text).replace(/`[^`\n]*`/g, "");
}

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of withoutFences(text).replace(/`/g, "").matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = match[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The targets of a page's markdown links, outside code. */
export function markdownLinks(text: string): string[] {
  return [...proseOf(text).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
}

/** The programs the recipes call besides certwright (.ci/run installs them). */
const recipeTools = ["bash", "curl", "jq", "openssl", "sqlite3"];

/** The tools the docs' recipes call that this machine lacks (the recipe test is skipped without them). */
export const missingRecipeTools = recipeTools.filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
