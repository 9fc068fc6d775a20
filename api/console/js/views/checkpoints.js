// The log's latest checkpoint, parsed and verified against the pinned key, and the
// OpenTimestamps anchors of checkpoints (pending/complete, Bitcoin block heights).

import { getJson, getText } from "../api.js";
import { errorBox, facts, h, pill, replace, section, table } from "../dom.js";
import { time, tone } from "../format.js";
import { lastCheckpoint, pinnedKey } from "../store.js";

/** A tone word per consistency state (format.tone maps it to a colour). */
const TONES = { first_visit: "ok", consistent: "ok", same: "ok", fork: "fail", rollback: "fail", error: "fail", unpinned: "none" };
import { parseCheckpointText, parseNote, parseVerifierKey, verifyCheckpoint } from "../verify.js";

export async function render({ main, consistency }) {
  const [note, anchors] = await Promise.all([getText("/checkpoint", { auth: false }), getJson("/v1/anchors?limit=100", { auth: false })]);
  const check = await checkpointFacts(note);
  const visit = await consistency;
  const stored = lastCheckpoint.get();
  replace(
    main,
    h("h1", {}, "Checkpoints and anchors"),
    section("Latest checkpoint", check, h("pre", { class: "receipt" }, note)),
    section(
      "Consistency with this browser's last visit",
      facts([
        ["Result", [pill(visit.state, tone(TONES[visit.state] || "grey")), " ", visit.text]],
        ["Remembered checkpoint", stored ? `size ${stored.size}, root ${stored.root}` : "none"],
      ]),
    ),
    section(anchors.enabled ? "Anchors (OpenTimestamps), newest first" : "Anchors — anchoring is disabled on this server", anchorTable(anchors.anchors)),
  );
}

async function checkpointFacts(note) {
  let cp;
  try {
    cp = parseCheckpointText(parseNote(note).text);
  } catch (e) {
    return errorBox(`The checkpoint does not parse: ${e.message}`);
  }
  let verdict;
  const pinned = pinnedKey.get();
  if (!pinned) verdict = [pill("not verified", "grey"), " no log key pinned (Settings)"];
  else {
    try {
      const v = await verifyCheckpoint(note, await parseVerifierKey(pinned));
      verdict = [h("span", { testid: "checkpoint-verify", class: "pill green", dataset: { state: "verified" } }, "✓ verified"), ` signed by the pinned key${v.cosignatures ? `, ${v.cosignatures} other signature(s) (witnesses) not checked here` : ""}`];
    } catch (e) {
      verdict = [h("span", { testid: "checkpoint-verify", class: "pill red", dataset: { state: "failed", failure: e.failure } }, "✗ not verified"), ` ${e.message}`];
    }
  }
  return facts([
    ["Origin", cp.origin],
    ["Tree size", h("span", { testid: "checkpoint-size" }, String(cp.size))],
    ["Root hash", h("code", { testid: "checkpoint-root" }, cp.rootB64)],
    ["Extensions", cp.extensions.length ? cp.extensions.join(" · ") : "none"],
    ["Signature", verdict],
  ]);
}

/** Only same-origin paths become links (the server's JSON is data, not trusted markup). */
const local = (url) => (typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null);

function bitcoin(a) {
  if (a.bitcoin_verified) return `block ${a.bitcoin_verified.height} (${time(a.bitcoin_verified.time * 1000)}, header checked)`;
  if (a.bitcoin_heights && a.bitcoin_heights.length) return `block ${a.bitcoin_heights.join(", ")}`;
  return "—";
}

function anchorTable(rows) {
  return table(
    [
      ["Tree size", (a) => (local(a.checkpoint_url) ? h("a", { href: local(a.checkpoint_url) }, String(a.tree_size)) : String(a.tree_size))],
      ["State", (a) => [h("span", { testid: "anchor-state", class: `pill ${tone(a.status)}` }, a.status), a.overdue ? [" ", pill("overdue", "red")] : null]],
      ["Bitcoin block height", (a) => h("span", { testid: "bitcoin-height" }, bitcoin(a))],
      ["Calendars", (a) => (a.calendars || []).length + (a.awaiting && a.awaiting.length ? ` (${a.awaiting.length} not yet)` : "")],
      ["Stamped", (a) => time(a.created_ms)],
      ["Completed", (a) => time(a.completed_ms)],
      ["Last error", (a) => a.last_error || "—"],
      ["Proof", (a) => (local(a.ots_url) ? h("a", { href: local(a.ots_url), download: `checkpoint-${a.tree_size}.ots` }, ".ots") : "—")],
    ],
    rows,
    (a) => ({ testid: "anchor-row", dataset: { size: String(a.tree_size), state: a.status } }),
    "no stamps yet",
  );
}
