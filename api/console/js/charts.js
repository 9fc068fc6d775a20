// Inline SVG charts built with createElementNS (no library, nothing inline the CSP
// forbids: colours come from classes in style.css). Each chart carries its
// data-testid and a text legend, so colour is never the only cue.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return el;
}

/** A round upper bound for an axis and its tick step. */
function niceMax(max) {
  if (max <= 0) return { top: 1, step: 1 };
  const mag = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => max / s <= 5) || mag * 10;
  return { top: Math.ceil(max / step) * step, step };
}

function legend(series, x, y) {
  const g = svg("g", { class: "legend" });
  let at = x;
  for (const s of series) {
    g.appendChild(svg("rect", { x: at, y: y - 9, width: 10, height: 10, class: s.cls }));
    g.appendChild(svg("text", { x: at + 14, y }, s.name));
    at += 22 + s.name.length * 7;
  }
  return g;
}

/**
 * Stacked bars: `categories` along x, `series` [{name, cls, values[]}] stacked.
 * `label(i)` is the x label of category i (every nth is shown when crowded).
 */
export function stackedBars(testid, { title, categories, series, label = (i) => categories[i], width = 900, height = 240 }) {
  const pad = { l: 48, r: 12, t: 28, b: 40 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const totals = categories.map((_, i) => series.reduce((n, s) => n + (s.values[i] || 0), 0));
  const { top, step } = niceMax(Math.max(0, ...totals));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title, class: "chart", "data-testid": testid });
  root.appendChild(svg("title", {}, title));
  for (let v = 0; v <= top; v += step) {
    const y = pad.t + hgt - (v / top) * hgt;
    root.appendChild(svg("line", { x1: pad.l, x2: pad.l + w, y1: y, y2: y, class: "gridline" }));
    root.appendChild(svg("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "axis" }, String(v)));
  }
  const slot = w / Math.max(1, categories.length);
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  const every = Math.ceil(categories.length / Math.max(1, Math.floor(w / 60)));
  categories.forEach((c, i) => {
    const x = pad.l + i * slot + (slot - barW) / 2;
    let y = pad.t + hgt;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (v <= 0) continue;
      const bh = (v / top) * hgt;
      y -= bh;
      root.appendChild(svg("rect", { x, y, width: barW, height: bh, class: s.cls }, svg("title", {}, `${label(i)} ${s.name}: ${v}`)));
    }
    if (i % every === 0) root.appendChild(svg("text", { x: x + barW / 2, y: pad.t + hgt + 16, "text-anchor": "middle", class: "axis" }, label(i)));
  });
  root.appendChild(svg("line", { x1: pad.l, x2: pad.l + w, y1: pad.t + hgt, y2: pad.t + hgt, class: "baseline" }));
  root.appendChild(legend(series, pad.l, 16));
  return root;
}

/** Horizontal bars, one per row `{label, value, text}` (value in any unit, text shown). */
export function horizontalBars(testid, { title, rows, width = 900, cls = "s-info" }) {
  const rowH = 22;
  const labelW = Math.round(width / 3);
  const height = 24 + rows.length * rowH + 8;
  const max = Math.max(0, ...rows.map((r) => r.value || 0)) || 1;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title, class: "chart", "data-testid": testid });
  root.appendChild(svg("title", {}, title));
  rows.forEach((r, i) => {
    const y = 20 + i * rowH;
    const fit = Math.floor(labelW / 7);
    const name = r.label.length > fit ? `${r.label.slice(0, fit - 1)}…` : r.label;
    root.appendChild(svg("text", { x: labelW - 8, y: y + 14, "text-anchor": "end", class: "axis" }, svg("title", {}, r.label), name));
    const bw = Math.max(r.value > 0 ? 2 : 0, ((width - labelW - 120) * (r.value || 0)) / max);
    root.appendChild(svg("rect", { x: labelW, y: y + 3, width: bw, height: rowH - 6, class: cls }, svg("title", {}, `${r.label}: ${r.text}`)));
    root.appendChild(svg("text", { x: labelW + bw + 6, y: y + 14, class: "axis" }, r.text));
  });
  if (rows.length === 0) root.appendChild(svg("text", { x: 10, y: 36, class: "axis" }, "no data"));
  return root;
}
