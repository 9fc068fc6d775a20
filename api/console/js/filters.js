// Filter forms of the list views: the values live in the route's query string, so a
// filtered page can be bookmarked and the back button works.

import { h } from "./dom.js";

/**
 * `fields` are `[name, label, options|null]` (options: a list of values for a select,
 * null for a text input; "from"/"to" take dates). Submitting navigates to
 * `#/<view>?<filters>` without a cursor.
 */
export function filterForm(view, fields, query, sites) {
  const inputs = fields.map(([name, label, options]) => {
    const value = query.get(name) || "";
    let input;
    if (name === "site") options = ["", ...sites];
    if (options) {
      input = h("select", { name, id: `filter-${name}` }, options.map((o) => h("option", { value: o, selected: o === value }, o || "any")));
    } else if (name === "from" || name === "to") {
      const ms = Number(value) - (name === "to" ? 86400000 : 0);
      const day = value && Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 10) : "";
      input = h("input", { name, id: `filter-${name}`, type: "date", value: day });
    } else {
      input = h("input", { name, id: `filter-${name}`, type: "text", value, size: "14" });
    }
    return h("label", {}, label, input);
  });
  const submit = (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const el of form.querySelectorAll("input,select")) {
      if (!el.name || !el.value) continue;
      // Dates are UTC days; the API takes Unix ms ("to" is exclusive: the next midnight).
      if (el.type === "date") {
        const ms = Date.parse(`${el.value}T00:00:00Z`) + (el.name === "to" ? 86400000 : 0);
        q.set(el.name, String(ms));
      } else q.set(el.name, el.value);
    }
    location.hash = `#/${view}${q.toString() ? `?${q}` : ""}`;
  };
  const form = h("form", { class: "filters", on: { submit } }, inputs, h("button", { type: "submit", id: "apply-filters" }, "Apply"), h("a", { href: `#/${view}`, class: "reset" }, "Reset"));
  return form;
}

/** The API parameters of a route query: the named filters, the cursor and the page size (default 50). */
export function apiParams(query, names) {
  const out = { limit: 50 };
  for (const n of [...names, "cursor", "limit"]) if (query.get(n)) out[n] = query.get(n);
  return out;
}

/** The "next page" button, only when the API answered a cursor. */
export function nextPageButton(view, query, cursor) {
  if (!cursor) return null;
  const go = () => {
    const q = new URLSearchParams(query);
    q.set("cursor", cursor);
    location.hash = `#/${view}?${q}`;
  };
  return h("button", { id: "next-page", type: "button", on: { click: go } }, "Next page →");
}
