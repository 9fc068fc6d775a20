// Fleet of one site: every appliance's liveness, agent, outbox, key and alarms, and the
// site's evidence results per day (stacked bars).

import { getJson, seg, withQuery } from "../api.js";
import { stackedBars } from "../charts.js";
import { h, pill, replace, section, table } from "../dom.js";
import { ago, duration, num, short, tone } from "../format.js";

export async function render({ main, args, site: chosen }) {
  // A site named in the route is asked for even when it is not one of the session's
  // sites: the server's 404 then says "not found or not in your sites".
  const site = args[0] || chosen;
  if (!site) {
    replace(main, h("h1", {}, "Fleet"), h("p", {}, "Your credential covers no site yet."));
    return;
  }
  const [fleet, daily] = await Promise.all([
    getJson(`/v1/sites/${seg(site)}/appliances`),
    getJson(withQuery("/v1/search/records/daily", { site })),
  ]);
  const apps = fleet.appliances;
  const count = (st) => apps.filter((a) => a.state === st).length;
  replace(
    main,
    h("h1", {}, `Fleet — ${site}`),
    h(
      "p",
      { class: "summary" },
      `${apps.length} appliances: `,
      pill(`${count("online")} online`, "green"),
      " ",
      pill(`${count("stale")} stale`, count("stale") ? "amber" : "grey"),
      " ",
      pill(`${count("never")} never checked in`, "grey"),
      ` · stale after ${duration(fleet.stale_after_secs * 1000)} without a check-in`,
    ),
    section("Appliances", applianceTable(site, apps)),
    section(`Evidence results per day (${daily.from_day} to ${daily.to_day}, UTC)`, dailyChart(daily)),
  );
}

function alarms(a) {
  const out = [];
  if (a.completeness_alarms > 0) out.push(pill(`${a.completeness_alarms} completeness`, "red"));
  for (const s of a.server_alarms) out.push(pill(s, "red"));
  for (const s of a.agent_alarms) out.push(pill(s, "amber"));
  for (const [reason, r] of Object.entries(a.refusals || {})) out.push(h("span", { class: "muted", title: `last ${ago(r.last_ms)}` }, ` ${reason}×${r.count}`));
  return out.length ? out : h("span", { class: "muted" }, "none");
}

function applianceTable(site, apps) {
  return table(
    [
      ["Appliance", (a) => h("a", { href: `#/appliance/${seg(site)}/${seg(a.appliance_id)}` }, a.appliance_id)],
      ["State", (a) => h("span", { testid: "state", class: `pill ${tone(a.state)}` }, a.state)],
      ["Last check-in", (a) => ago(a.last_checkin_ms)],
      ["Agent", (a) => a.agent_version || "—"],
      ["Health", (a) => (a.health ? pill(a.health, tone(a.health)) : "—")],
      ["Outbox", (a) => (a.outbox_depth == null ? "—" : `${num(a.outbox_depth)}${a.oldest_undelivered_age_secs ? ` (oldest ${duration(a.oldest_undelivered_age_secs * 1000)})` : ""}`)],
      ["Key", (a) => [pill(a.key_status, a.key_status === "none" ? "grey" : tone(a.key_status)), " ", h("code", { title: a.key_id || "" }, short(a.key_id, 8))]],
      ["Records", (a) => num(a.records)],
      ["Last seq.", (a) => num(a.last_sequence)],
      ["Alarms", alarms],
    ],
    apps,
    (a) => ({ testid: "appliance-row", dataset: { site, appliance: a.appliance_id } }),
    "no appliances at this site",
  );
}

function dailyChart(daily) {
  const days = daily.days;
  return stackedBars("chart-evidence-daily", {
    title: "Evidence items per day by status",
    categories: days.map((d) => d.day),
    label: (i) => days[i].day.slice(5),
    width: 1200,
    series: [
      { name: "pass", cls: "s-pass", values: days.map((d) => d.pass) },
      { name: "warning", cls: "s-warning", values: days.map((d) => d.warning) },
      { name: "fail", cls: "s-fail", values: days.map((d) => d.fail) },
      { name: "error", cls: "s-error", values: days.map((d) => d.error) },
    ],
  });
}
