// Log health: /healthz and the Prometheus text of /metrics (tree size, queue depth,
// batches, largest batch, mean append latency from the histogram, index lag).

import { getText } from "../api.js";
import { facts, h, pill, replace, section, table } from "../dom.js";
import { num, tone } from "../format.js";

/** Parses Prometheus text exposition: `[{name, labels: {…}, value}]` (comments skipped). */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

export async function render({ main }) {
  const [healthz, metricsText] = await Promise.all([healthzOf(), getText("/metrics", { auth: false })]);
  const metrics = parseMetrics(metricsText);
  const one = (name) => {
    const m = metrics.find((x) => x.name === name && Object.keys(x.labels).length === 0);
    return m ? m.value : null;
  };
  const sum = one("ledger_append_latency_seconds_sum");
  const count = one("ledger_append_latency_seconds_count");
  const mean = sum != null && count ? `${((sum / count) * 1000).toFixed(2)} ms over ${num(count)} appends` : "no appends yet";
  const batches = one("ledger_batches_total");
  const entries = one("ledger_batched_entries_total");
  replace(
    main,
    h("h1", {}, "Log health"),
    h(
      "div",
      { class: "columns" },
      section(
        "Server",
        facts([
          ["Status", [pill(healthz.status, tone(healthz.status)), healthz.reason ? ` ${healthz.reason}` : ""]],
          ["Tree size", h("span", { testid: "tree-size" }, String(healthz.tree_size ?? "—"))],
          ["Queue depth", h("span", { testid: "queue-depth" }, String(healthz.queue_depth ?? one("ledger_queue_depth") ?? "—"))],
          ["Witnesses", healthz.witnesses ? `quorum ${healthz.witnesses.quorum_met ? "met" : "NOT met"}, witnessed size ${healthz.witnesses.witnessed_size}` : "none configured"],
          ["Index", `${num(one("ledger_index_size"))} entries indexed, ${num(one("ledger_index_lag_entries"))} behind`],
        ]),
      ),
      section(
        "Sequencer",
        facts([
          ["Batches", h("span", { testid: "batches" }, num(batches))],
          ["Entries in batches", num(entries)],
          ["Mean batch", batches ? (entries / batches).toFixed(1) : "—"],
          ["Largest batch", h("span", { testid: "largest-batch" }, num(one("ledger_largest_batch")))],
          ["Mean append latency", h("span", { testid: "append-latency-mean" }, mean)],
          ["Records appended / duplicates", `${num(one("ledger_records_appended_total"))} / ${num(one("ledger_records_duplicate_total"))}`],
          ["Busy (503) / no space (507)", `${num(one("ledger_busy_total"))} / ${num(one("ledger_no_space_total"))}`],
        ]),
      ),
    ),
    section("Append latency histogram", histogram(metrics, "ledger_append_latency_seconds")),
    section("Refused records by reason", labelled(metrics, "ledger_records_rejected_total", "reason")),
  );
}

async function healthzOf() {
  // /healthz answers 503 with a JSON body when the log stopped: show it, do not fail.
  const res = await fetch("/healthz", { cache: "no-store", credentials: "omit" });
  try {
    return await res.json();
  } catch {
    return { status: `HTTP ${res.status}` };
  }
}

function histogram(metrics, name) {
  const buckets = metrics.filter((m) => m.name === `${name}_bucket`);
  let prev = 0;
  const rows = buckets.map((b) => {
    const r = { le: b.labels.le, cumulative: b.value, count: b.value - prev };
    prev = b.value;
    return r;
  });
  return table([["≤ seconds", (r) => r.le], ["Appends in bucket", (r) => num(r.count)], ["Cumulative", (r) => num(r.cumulative)]], rows, () => ({ testid: "latency-bucket" }), "no histogram");
}

function labelled(metrics, name, label) {
  const rows = metrics.filter((m) => m.name === name);
  return table([[label, (m) => m.labels[label] || "—"], ["Count", (m) => num(m.value)]], rows, () => ({}), "none");
}
