import t from "tap";
import { formatHours, parseDuration } from "../../src/profiles/duration.js";

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;

t.test("Go durations as cfssl configs write them", async (t) => {
  const cases: [string, number][] = [
    ["8760h", 8760 * hour],
    ["43800h", 43800 * hour],
    ["1h30m", hour + 30 * minute],
    ["1h30m15s", hour + 30 * minute + 15 * second],
    ["90s", 90 * second],
    ["5m", 5 * minute],
    ["1.5h", 1.5 * hour],
    [".5h", 30 * minute],
    ["500ms", 500],
    ["1500us", 2],
    ["1µs", 0],
    ["0", 0],
    ["0s", 0],
    [" 8760h ", 8760 * hour],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, `${JSON.stringify(text)} is ${ms} ms`);
});

t.test("days and years, beyond Go", async (t) => {
  t.equal(parseDuration("30d"), 30 * day);
  t.equal(parseDuration("1y"), 365 * day);
  t.equal(parseDuration("1y30d"), 395 * day);
  t.equal(parseDuration("2d12h"), 60 * hour);
});

t.test("anything else is undefined", async (t) => {
  for (const text of ["", " ", "forever", "h", "m30", "10", "1.5", "8760", "8760hours", "1h 30m", "1w", "1H", "-1h", "+1h", "1h-30m", "1e3s", "1..5h", "0x10h", "h1"]) {
    t.equal(parseDuration(text), undefined, `${JSON.stringify(text)} is not a duration`);
  }
});

t.test("formatHours writes whole hours as cfssl configs do", async (t) => {
  t.equal(formatHours(8760 * hour), "8760h");
  t.equal(formatHours(hour), "1h");
  t.equal(formatHours(90 * minute), "5400s");
  t.equal(parseDuration(formatHours(90 * minute)), 90 * minute, "and it parses back");
});
