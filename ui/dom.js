// Building the page from data: elements and text nodes only, never HTML strings, so nothing a
// certificate carries (a CN, a SAN) can become markup.

export function h(tag, attributes = {}, ...content) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...content.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return element;
}

export function show(view, ...content) {
  view.replaceChildren(...content.filter((c) => c !== undefined && c !== null && c !== false));
}

export const date = (iso) => (iso ? `${iso.slice(0, 19).replace("T", " ")}Z` : "");

export function daysFromNow(iso) {
  const days = Math.round((new Date(iso).getTime() - Date.now()) / 86_400_000);
  return days >= 0 ? `in ${days} days` : `${-days} days ago`;
}

export const statusBadge = (status) => h("span", { class: `badge ${status}` }, status);

/** A button that copies `text` and says so. */
export function copyButton(text, label = "Copy") {
  const button = h("button", {
    type: "button",
    class: "copy",
    onclick: async () => {
      await navigator.clipboard.writeText(text).catch(() => undefined);
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = label), 1500);
    },
  }, label);
  return button;
}

export function definitions(rows) {
  return h("dl", {}, rows.filter(([, v]) => v !== undefined).flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

export const errorBox = (error) => h("p", { class: "error", role: "alert" }, error.message);
