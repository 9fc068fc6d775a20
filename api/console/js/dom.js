// Building DOM nodes without innerHTML: every value from the server goes in as text.

/**
 * `h("a", {href, class, dataset: {…}, on: {click}}, …children)`; children may be
 * strings, numbers, nodes, arrays or null (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "on") for (const [ev, f] of Object.entries(v)) el.addEventListener(ev, f);
    else if (k === "testid") el.dataset.testid = v;
    else if (k in el && k !== "list" && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A dense table: `columns` are `[header, cell(row) → node|string]`, `rowProps(row)`
 * gives the `<tr>` attributes (e.g. data-testid). `empty` is shown without rows.
 */
export function table(columns, rows, rowProps = () => ({}), empty = "nothing to show") {
  const head = h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", {}, title))));
  const body = h(
    "tbody",
    {},
    rows.length === 0
      ? h("tr", { class: "empty" }, h("td", { colspan: String(columns.length) }, empty))
      : rows.map((r) => h("tr", rowProps(r), columns.map(([, cell]) => h("td", {}, cell(r))))),
  );
  return h("table", { class: "grid" }, head, body);
}

/** A status word with its colour: green/amber/red/grey, always with the text. */
export function pill(text, tone) {
  return h("span", { class: `pill ${tone}` }, text);
}

/** A titled section. */
export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

/** Definition list of `[label, value]` pairs. */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

export function errorBox(message) {
  return h("div", { class: "error", testid: "error", role: "alert" }, message);
}
