// The overview's issued-per-day bars: SVG drawn here (no inline styles: the CSP forbids them), its
// labels in HTML beside it so they keep their size however wide the bars are stretched.
import { h } from "./dom.js";

const svgNs = "http://www.w3.org/2000/svg";

function svg(tag, attributes, text) {
  const element = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** One bar a day, the busiest day at full height, each day's count as its tooltip. */
export function barChart(days) {
  const height = 100;
  const most = Math.max(1, ...days.map((d) => d.count));
  const total = days.reduce((n, d) => n + d.count, 0);
  const chart = svg("svg", { viewBox: `0 0 ${days.length * 10} ${height}`, preserveAspectRatio: "none", class: "chart", role: "img" });
  chart.append(svg("title", {}, `${total} certificates issued from ${days[0]?.day} to ${days.at(-1)?.day}`));
  days.forEach((d, i) => {
    const barHeight = (d.count / most) * height;
    const rect = svg("rect", { x: i * 10 + 1, y: height - barHeight, width: 8, height: barHeight, class: "bar" });
    rect.append(svg("title", {}, `${d.day}: ${d.count}`));
    chart.append(rect);
  });
  return h("figure", { class: "bars" },
    h("div", { class: "scale" }, `busiest day: ${most}`, h("span", {}, `total: ${total}`)),
    chart,
    h("figcaption", {}, h("span", {}, days[0]?.day ?? ""), h("span", {}, days.at(-1)?.day ?? "")),
  );
}
