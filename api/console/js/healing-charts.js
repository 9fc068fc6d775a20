// Charts of healing: records by tier and outcome (from /v1/patterns filtered by each
// tier, which counts every healing record, not one page of incidents) and the mean time
// to resolve per pattern.

import { getJson, withQuery } from "./api.js";
import { horizontalBars, stackedBars } from "./charts.js";
import { duration } from "./format.js";

const TIERS = ["L1", "L2", "L3"];

/** Fetches the per-tier statistics (three requests in parallel). */
export function fetchTierStats(site, checkType) {
  return Promise.all(TIERS.map((tier) => getJson(withQuery("/v1/patterns", { site, check_type: checkType, tier }))));
}

const sum = (patterns, field) => patterns.reduce((n, p) => n + (p[field] || 0), 0);

export function tierOutcomeChart(perTier) {
  return stackedBars("chart-incidents-tier", {
    title: "Healing records by tier and outcome",
    categories: TIERS,
    width: 560,
    height: 220,
    series: [
      { name: "success", cls: "s-pass", values: perTier.map((t) => sum(t.patterns, "successes")) },
      { name: "failure", cls: "s-fail", values: perTier.map((t) => sum(t.patterns, "failures")) },
      { name: "escalated", cls: "s-warning", values: perTier.map((t) => sum(t.patterns, "escalations")) },
    ],
  });
}

export function timeToResolveChart(patterns) {
  const rows = patterns
    .filter((p) => p.mean_time_to_resolve_ms != null)
    .slice(0, 20)
    .sort((a, b) => b.mean_time_to_resolve_ms - a.mean_time_to_resolve_ms)
    .map((p) => ({ label: p.pattern_signature, value: p.mean_time_to_resolve_ms, text: `${duration(p.mean_time_to_resolve_ms)} (${p.successes} resolved)` }));
  return horizontalBars("chart-time-to-resolve", { title: "Mean time to resolve per pattern (successes)", rows, width: 600 });
}
