// Incidents (healing records grouped by incident id), newest first, with filters and
// cursor paging, and the chart of healing records by tier and outcome.

import { getJson, seg, withQuery } from "../api.js";
import { apiParams, filterForm, nextPageButton } from "../filters.js";
import { fetchTierStats, tierOutcomeChart, timeToResolveChart } from "../healing-charts.js";
import { h, pill, replace, section, table } from "../dom.js";
import { duration, num, time, tone } from "../format.js";

const FILTERS = [
  ["site", "Site", []],
  ["appliance", "Appliance", null],
  ["check_type", "Check type", null],
  ["tier", "Tier", ["", "L1", "L2", "L3"]],
  ["outcome", "Outcome", ["", "success", "failure", "escalated"]],
  ["from", "Active from", null],
  ["to", "to", null],
];

export async function render({ main, query, session }) {
  const params = apiParams(query, FILTERS.map(([n]) => n));
  const scope = { site: query.get("site"), check_type: query.get("check_type") };
  const [page, perTier, patterns] = await Promise.all([
    getJson(withQuery("/v1/incidents", params)),
    fetchTierStats(scope.site, scope.check_type),
    getJson(withQuery("/v1/patterns", scope)),
  ]);
  replace(
    main,
    h("h1", {}, "Incidents"),
    filterForm("incidents", FILTERS, query, session.sites),
    section(query.get("cursor") ? "Incidents (next page)" : "Incidents, newest first", incidentTable(page.incidents), h("div", { class: "pager" }, query.get("cursor") ? h("a", { href: firstPage(query) }, "← first page") : null, " ", nextPageButton("incidents", query, page.next_cursor))),
    h(
      "div",
      { class: "columns" },
      section(`Healing records by tier and outcome${scope.site ? ` — ${scope.site}` : " — all your sites"}`, tierOutcomeChart(perTier)),
      section("Mean time to resolve per pattern", timeToResolveChart(patterns.patterns)),
    ),
  );
}

function firstPage(query) {
  const q = new URLSearchParams(query);
  q.delete("cursor");
  return `#/incidents${q.toString() ? `?${q}` : ""}`;
}

function incidentTable(rows) {
  return table(
    [
      ["Incident", (i) => h("a", { href: `#/incident/${seg(i.site_id)}/${seg(i.incident_id)}` }, i.incident_id)],
      ["Site", (i) => i.site_id],
      ["Appliance", (i) => h("a", { href: `#/appliance/${seg(i.site_id)}/${seg(i.appliance_id)}` }, i.appliance_id)],
      ["Check type", (i) => i.check_type],
      ["Pattern", (i) => i.pattern_signature],
      ["Tier", (i) => i.tier],
      ["Outcome", (i) => pill(i.outcome, tone(i.outcome))],
      ["Started", (i) => time(i.started_at_ms)],
      ["Took", (i) => duration(i.ended_at_ms - i.started_at_ms)],
      ["Records", (i) => num(i.records)],
    ],
    rows,
    (i) => ({ testid: "incident-row", dataset: { incident: i.incident_id, site: i.site_id } }),
    "no incidents match",
  );
}
