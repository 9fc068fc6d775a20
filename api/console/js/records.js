// The table of record search hits shared by the search and appliance views; each row
// links to the record view, which verifies the record in the browser.

import { h, pill, table } from "./dom.js";
import { num, short, time, tone } from "./format.js";
import { seg } from "./api.js";

export function recordLink(index, hash, text) {
  return h("a", { href: `#/record/${index}/${seg(hash)}` }, text);
}

function summary(r) {
  if (r.kind === "healing") {
    return [h("a", { href: `#/incident/${seg(r.site_id)}/${seg(r.incident_id || "")}` }, r.incident_id || "?"), ` ${r.check_type || ""} ${r.tier || ""} `, r.outcome ? pill(r.outcome, tone(r.outcome)) : null];
  }
  if (r.kind === "evidence") {
    return r.checks.map((c) => [pill(c.status, tone(c.status)), ` ${c.check_type}${c.items > 1 ? ` ×${c.items}` : ""} `]);
  }
  return r.kind;
}

export function recordsTable(records, { showSite = true } = {}) {
  const cols = [
    ["Index", (r) => recordLink(r.index, r.record_hash, String(r.index))],
    ["Time (appliance)", (r) => time(r.time_ms)],
    ...(showSite ? [["Site", (r) => r.site_id]] : []),
    ["Appliance", (r) => h("a", { href: `#/appliance/${seg(r.site_id)}/${seg(r.appliance_id)}` }, r.appliance_id)],
    ["Seq.", (r) => num(r.sequence)],
    ["Kind", (r) => r.kind],
    ["Content", summary],
    ["Record hash", (r) => recordLink(r.index, r.record_hash, h("code", { title: r.record_hash }, short(r.record_hash, 16)))],
  ];
  return table(cols, records, (r) => ({ testid: "record-row", dataset: { index: String(r.index) } }), "no records");
}
