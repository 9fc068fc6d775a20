// The console's shell: hash router, header (navigation, site selector, consistency
// badge, sign-out) and the body data attributes the browser tests wait on
// (data-view, data-ready, data-loadMs).
//
// Codemap (no build step; every file is served as is by ledgerd under a strict CSP):
//   js/api.js          requests with the bearer credential, readable errors, 401 → sign-in
//   js/store.js        the sessionStorage/localStorage keys of the console contract
//   js/verify.js       signed notes, checkpoints, receipts, RFC 9162 proofs (WebCrypto)
//   js/consistency.js  the header badge: /checkpoint against the pinned key and last visit
//   js/cbor.js, js/record-fields.js   decoding a record's bytes for display
//   js/charts.js, js/healing-charts.js   inline SVG charts
//   js/dom.js, js/format.js, js/filters.js, js/records.js   building pages
//   js/views/*.js      one module per route, each exporting `render(ctx)`

import { getJson } from "./js/api.js";
import { runConsistency } from "./js/consistency.js";
import { errorBox, h, replace } from "./js/dom.js";
import { token } from "./js/store.js";
import * as appliance from "./js/views/appliance.js";
import * as checkpoints from "./js/views/checkpoints.js";
import * as fleet from "./js/views/fleet.js";
import * as health from "./js/views/health.js";
import * as incident from "./js/views/incident.js";
import * as incidents from "./js/views/incidents.js";
import * as patterns from "./js/views/patterns.js";
import * as record from "./js/views/record.js";
import * as search from "./js/views/search.js";
import * as settings from "./js/views/settings.js";
import * as signIn from "./js/views/signin.js";

/** Route name → view module; the name is also `body.dataset.view`. */
const VIEWS = {
  "sign-in": signIn,
  settings,
  fleet,
  appliance,
  incidents,
  incident,
  patterns,
  search,
  record,
  checkpoints,
  health,
};

const NAV = [
  ["Fleet", "fleet"],
  ["Incidents", "incidents"],
  ["Patterns", "patterns"],
  ["Search", "search"],
  ["Checkpoints", "checkpoints"],
  ["Health", "health"],
  ["Settings", "settings"],
];

const shell = { session: null, site: null, generation: 0 };

/** `#/name/a/b?x=y` → `{name, args: ["a","b"], query: URLSearchParams}`. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs = ""] = raw.split("?");
  const [name = "", ...args] = path.split("/").filter((s) => s !== "");
  return { name, args: args.map(decodeURIComponent), query: new URLSearchParams(qs) };
}

async function session() {
  if (!shell.session) shell.session = await getJson("/v1/session");
  return shell.session;
}

/** Forgets everything tied to the credential. */
function signOut() {
  token.clear();
  shell.session = null;
  shell.site = null;
  location.hash = "#/sign-in";
}

function siteSelector(route) {
  const sites = shell.session ? shell.session.sites : [];
  const select = h(
    "select",
    { id: "site", "aria-label": "Site", on: { change: () => chooseSite(select.value, route) } },
    sites.length === 0 ? h("option", { value: "" }, "no sites") : sites.map((s) => h("option", { value: s, selected: s === shell.site }, s)),
  );
  return h("label", { class: "site-picker" }, "Site ", select);
}

/** The header selector changes the fleet's site, or the site filter of a list view. */
function chooseSite(site, route) {
  shell.site = site;
  if (route.name === "fleet" || route.name === "appliance") {
    location.hash = `#/fleet/${encodeURIComponent(site)}`;
  } else if (["incidents", "search", "patterns"].includes(route.name)) {
    route.query.set("site", site);
    route.query.delete("cursor");
    location.hash = `#/${route.name}?${route.query.toString()}`;
  }
}

function header(route) {
  const top = document.getElementById("top");
  const badge = h("span", { class: "badge-slot" });
  const signedIn = Boolean(token.get());
  replace(
    top,
    h("a", { class: "brand", href: "#/fleet" }, "Evidence Ledger"),
    signedIn
      ? h("nav", {}, NAV.map(([label, name]) => h("a", { href: `#/${name}`, class: route.name === name ? "current" : null }, label)))
      : h("nav", {}),
    h("span", { class: "spacer" }),
    signedIn ? siteSelector(route) : null,
    badge,
    signedIn ? h("button", { id: "refresh", type: "button", title: "Load this page again", on: { click: run } }, "↻") : null,
    signedIn ? h("span", { class: "role" }, shell.session ? shell.session.role : "") : null,
    signedIn ? h("button", { id: "sign-out", type: "button", on: { click: signOut } }, "Sign out") : null,
  );
  return badge;
}

/** Picks the current site: the route's, else the one chosen before, else the first. */
function currentSite(route) {
  const sites = shell.session ? shell.session.sites : [];
  const wanted = route.name === "fleet" ? route.args[0] : route.name === "appliance" ? route.args[0] : route.query.get("site");
  if (wanted && sites.includes(wanted)) shell.site = wanted;
  if (!shell.site || !sites.includes(shell.site)) shell.site = sites[0] || null;
  return shell.site;
}

async function run() {
  const gen = ++shell.generation;
  const started = performance.now();
  const body = document.body;
  body.dataset.ready = "false";
  let route = parseHash();
  if (!token.get()) route = { ...route, name: "sign-in" };
  else if (!VIEWS[route.name] || route.name === "sign-in") {
    location.replace("#/fleet");
    return;
  }
  body.dataset.view = route.name;
  delete body.dataset.loadMs;
  // Each route renders into its own container: a slower, superseded route then only
  // fills a detached element and never overwrites the page of the current one.
  const main = h("div", { class: "view" });
  replace(document.getElementById("main"), main);
  const alarm = document.getElementById("alarm");
  try {
    if (token.get()) await session();
  } catch (e) {
    if (gen !== shell.generation) return;
    header(route);
    replace(main, errorBox(`Cannot load your session: ${e.message}`));
    return finish(gen, started);
  }
  if (gen !== shell.generation) return;
  const site = token.get() ? currentSite(route) : null;
  const badge = header(route);
  const consistency = runConsistency(badge, alarm);
  const ctx = { main, args: route.args, query: route.query, site, session: shell.session, consistency };
  try {
    await VIEWS[route.name].render(ctx);
  } catch (e) {
    if (gen !== shell.generation) return;
    replace(main, errorBox(e.message || String(e)));
  }
  finish(gen, started);
}

function finish(gen, started) {
  if (gen !== shell.generation) return;
  document.body.dataset.loadMs = String(Math.round(performance.now() - started));
  document.body.dataset.ready = "true";
}

/** Without WebCrypto nothing can be verified: say so on every page, not only on failures. */
function warnWithoutWebCrypto() {
  if (globalThis.crypto && globalThis.crypto.subtle) return;
  const note = h("div", { class: "alarm amber", role: "alert" }, h("strong", {}, "Verification unavailable: "), "this page is not a secure context, so the browser offers no WebCrypto (crypto.subtle). Open the console over https://, or at http://localhost or http://127.0.0.1, to verify checkpoints and records.");
  document.body.insertBefore(note, document.getElementById("main"));
}

warnWithoutWebCrypto();
window.addEventListener("hashchange", run);
window.addEventListener("ledger:signed-out", () => {
  shell.session = null;
  shell.site = null;
});
run();
