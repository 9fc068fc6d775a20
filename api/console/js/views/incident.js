// One incident: its healing records with their decoded fields; each links to the record
// view, which verifies the record and its receipt in the browser.

import { getJson, seg } from "../api.js";
import { facts, h, pill, replace, section, table } from "../dom.js";
import { duration, short, time, tone } from "../format.js";
import { recordLink } from "../records.js";

export async function render({ main, args }) {
  const [site, id] = args;
  const d = await getJson(`/v1/sites/${seg(site)}/incidents/${seg(id)}`);
  const i = d.incident;
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: `#/incidents?site=${seg(site)}` }, "Incidents"), " › ", id),
    h("h1", {}, `Incident ${id} `, pill(i.outcome, tone(i.outcome))),
    section(
      "Summary",
      facts([
        ["Site / appliance", [site, " / ", h("a", { href: `#/appliance/${seg(site)}/${seg(i.appliance_id)}` }, i.appliance_id)]],
        ["Check type", i.check_type],
        ["Pattern", i.pattern_signature],
        ["Latest tier", i.tier],
        ["Started / ended", `${time(i.started_at_ms)} → ${time(i.ended_at_ms)} (${duration(i.ended_at_ms - i.started_at_ms)})`],
        ["Log indexes", `${i.first_index} … ${i.last_index} (${i.records} records; receipts against tree size ${d.tree_size})`],
      ]),
    ),
    section("Healing records", healingTable(d.records)),
  );
}

function healingTable(rows) {
  return table(
    [
      ["Index", (r) => recordLink(r.index, r.record_hash, String(r.index))],
      ["Time", (r) => time(r.time_ms)],
      ["Seq.", (r) => String(r.sequence)],
      ["Tier", (r) => r.healing.tier],
      ["Runbook", (r) => r.healing.runbook_id],
      ["Action", (r) => r.healing.action],
      ["Outcome", (r) => pill(r.healing.outcome, tone(r.healing.outcome))],
      ["Before → after", (r) => `${r.healing.state_before || "—"} → ${r.healing.state_after || "—"}`],
      ["Record", (r) => recordLink(r.index, r.record_hash, h("span", {}, "verify ", h("code", {}, short(r.record_hash, 10))))],
    ],
    rows,
    (r) => ({ testid: "record-row", dataset: { index: String(r.index) } }),
    "no healing records",
  );
}
