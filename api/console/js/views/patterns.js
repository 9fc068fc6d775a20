// Failure patterns: occurrences, outcomes and tiers per pattern signature, the L2
// patterns that qualify for promotion to L1, and two charts (records by tier and
// outcome, mean time to resolve per pattern).

import { getJson, withQuery } from "../api.js";
import { filterForm } from "../filters.js";
import { fetchTierStats, tierOutcomeChart, timeToResolveChart } from "../healing-charts.js";
import { h, replace, section, table } from "../dom.js";
import { duration, num } from "../format.js";

const FILTERS = [
  ["site", "Site", []],
  ["check_type", "Check type", null],
  ["from_day", "From day (YYYY-MM-DD)", null],
  ["to_day", "To day", null],
];

export async function render({ main, query, session }) {
  const p = {};
  for (const [n] of FILTERS) if (query.get(n)) p[n] = query.get(n);
  const [all, promo, perTier] = await Promise.all([
    getJson(withQuery("/v1/patterns", p)),
    getJson(withQuery("/v1/patterns/promotion-candidates", p)),
    fetchTierStats(p.site, p.check_type),
  ]);
  replace(
    main,
    h("h1", {}, "Patterns"),
    filterForm("patterns", FILTERS, query, session.sites),
    h("div", { class: "columns" }, section("Healing records by tier and outcome", tierOutcomeChart(perTier)), section("Mean time to resolve per pattern", timeToResolveChart(all.patterns))),
    section(`Promotion candidates (${promo.tier}: ≥ ${promo.min_occurrences} occurrences, success rate ≥ ${Math.round(promo.min_success_rate * 100)} %)`, patternTable(promo.candidates, "promotion-row", "no L2 pattern qualifies yet")),
    section("All patterns, most frequent first", patternTable(all.patterns, "pattern-row", "no healing records")),
  );
}

function patternTable(rows, testid, empty) {
  return table(
    [
      ["Pattern", (p) => p.pattern_signature],
      ["Check types", (p) => p.check_types.join(", ")],
      ["Occurrences", (p) => num(p.occurrences)],
      ["Success", (p) => num(p.successes)],
      ["Failure", (p) => num(p.failures)],
      ["Escalated", (p) => num(p.escalations)],
      ["Success rate", (p) => `${(p.success_rate * 100).toFixed(0)} %`],
      ["L1 / L2 / L3", (p) => `${p.tiers.L1} / ${p.tiers.L2} / ${p.tiers.L3}`],
      ["Mean time to resolve", (p) => duration(p.mean_time_to_resolve_ms)],
    ],
    rows,
    () => ({ testid }),
    empty,
  );
}
