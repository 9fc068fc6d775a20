// One appliance: chain head, key history, completeness alarms, clock steps back, the
// latest check-in and its latest records.

import { getJson, seg, withQuery } from "../api.js";
import { facts, h, pill, replace, section, table } from "../dom.js";
import { ago, duration, num, short, time, tone } from "../format.js";
import { recordsTable } from "../records.js";

export async function render({ main, args }) {
  const [site, appliance] = args;
  const [d, latest] = await Promise.all([
    getJson(`/v1/appliances/${seg(site)}/${seg(appliance)}`),
    getJson(withQuery("/v1/search/records", { site, appliance, limit: 20 })),
  ]);
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: `#/fleet/${seg(site)}` }, `Fleet — ${site}`), " › ", appliance),
    h("h1", {}, `${appliance} `, h("span", { testid: "state", class: `pill ${tone(d.state)}` }, d.state)),
    h(
      "div",
      { class: "columns" },
      section(
        "Chain",
        facts([
          ["Last sequence", h("span", { testid: "chain-head" }, d.last_sequence == null ? "none" : String(d.last_sequence))],
          ["Records", num(d.records)],
          ["Last record", d.last_record_index == null ? "—" : [`index ${d.last_record_index}`, ` at ${time(d.last_record_time_ms)}`]],
          ["Completeness alarms", d.completeness_alarms ? pill(String(d.completeness_alarms), "red") : pill("0", "green")],
          ["Server alarms", d.server_alarms.length ? d.server_alarms.map((a) => pill(a, "red")) : "none"],
          ["Refusals since start", Object.entries(d.refusals).map(([k, r]) => `${k}: ${r.count} (last ${ago(r.last_ms)}) `).join("") || "none"],
        ]),
      ),
      section("Latest check-in", checkin(d)),
    ),
    section("Key history", keys(d.keys)),
    section("Completeness alarms", completeness(d.completeness)),
    section("Clock steps back (more than 10 minutes before the previous record)", clockSteps(d.clock_steps_back)),
    section("Latest records", recordsTable(latest.records, { showSite: false }), latest.next_cursor ? h("p", {}, h("a", { href: `#/search?site=${seg(site)}&appliance=${seg(appliance)}` }, "More in search…")) : null),
  );
}

function checkin(d) {
  const c = d.checkin;
  if (!c) return h("p", { class: "muted" }, "This appliance never checked in.");
  return facts([
    ["Received", `${time(c.received_at_ms)} (${ago(c.received_at_ms)})`],
    ["Check-ins", num(c.checkins)],
    ["Agent version", c.agent_version],
    ["Health", pill(c.health, tone(c.health))],
    ["Alarms", c.alarms.length ? c.alarms.map((a) => pill(a, "amber")) : "none"],
    ["Outbox depth", num(c.outbox_depth)],
    ["Oldest undelivered", c.oldest_undelivered_age_secs == null ? "—" : duration(c.oldest_undelivered_age_secs * 1000)],
    ["Last receipt index", c.last_receipt_index == null ? "—" : String(c.last_receipt_index)],
    ["Last checkpoint size", c.last_checkpoint_size == null ? "—" : String(c.last_checkpoint_size)],
  ]);
}

function keys(rows) {
  return table(
    [
      ["Key id", (k) => h("code", {}, k.key_id)],
      ["Public key", (k) => h("code", { title: k.public_key }, short(k.public_key, 20))],
      ["Introduced by", (k) => `${k.introduced_by} at index ${k.introduced_at_index}`],
      ["Ended", (k) => (k.ended_at_index == null ? pill("active", "green") : [`index ${k.ended_at_index} `, pill(k.end_reason || "ended", (k.end_reason || "").startsWith("revoked") ? "red" : "grey")])],
      ["Replaced by", (k) => (k.replaced_by ? h("code", {}, k.replaced_by) : "—")],
    ],
    rows,
    () => ({ testid: "key-row" }),
    "no key records (never enrolled in this log)",
  );
}

function completeness(rows) {
  return table(
    [
      ["Index", (a) => String(a.index)],
      ["Kind", (a) => pill(a.kind, "red")],
      ["Sequence", (a) => num(a.sequence)],
      ["Expected", (a) => num(a.expected_sequence)],
    ],
    rows,
    () => ({ testid: "completeness-row" }),
    "none: every record continued its chain",
  );
}

function clockSteps(rows) {
  return table(
    [
      ["Index", (s) => String(s.index)],
      ["Sequence", (s) => num(s.sequence)],
      ["Time", (s) => time(s.time_ms)],
      ["Previous record's time", (s) => time(s.previous_time_ms)],
      ["Step back", (s) => duration(s.previous_time_ms - s.time_ms)],
    ],
    rows,
    () => ({ testid: "clock-step-row" }),
    "none",
  );
}
