const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * Parses a Go duration as cfssl's config has them (`"8760h"`, `"1h30m"`, `"90s"`), plus `d` (24h)
 * and `y` (365 days) units, into milliseconds. Returns undefined for anything else, so the caller
 * can name the field; zero is allowed here and refused by callers that need a positive lifetime.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "0") return 0;
  const pattern = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h|d|y)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(pattern)) {
    total += Number(match[1]) * unitMs[match[2]!]!;
    consumed += match[0].length;
  }
  if (consumed === 0 || consumed !== trimmed.length) return undefined;
  return Math.round(total);
}

/** Formats milliseconds as a Go duration in hours, the way cfssl's configs write them. */
export function formatHours(ms: number): string {
  const hours = ms / 3_600_000;
  return Number.isInteger(hours) ? `${hours}h` : `${Math.round(ms / 1000)}s`;
}
