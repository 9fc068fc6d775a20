// The header's consistency badge: fetch `/checkpoint`, verify it against the pinned log
// key, and compare it with the newest checkpoint this browser verified before (RFC 9162
// consistency proof from the stored size). Stores the new checkpoint on first visit and
// when consistent; keeps the old one on fork and rollback.

import { getText } from "./api.js";
import { h, replace } from "./dom.js";
import { lastCheckpoint, pinnedKey } from "./store.js";
import { compareWithStored, parseVerifierKey, verifyCheckpoint } from "./verify.js";

const LABELS = {
  first_visit: "✓ log verified (first visit)",
  consistent: "✓ log consistent",
  same: "✓ log unchanged",
  fork: "✗ FORK",
  rollback: "✗ ROLLBACK",
  unpinned: "log key not pinned",
  error: "✗ checkpoint error",
};

const TONES = { first_visit: "green", consistent: "green", same: "green", fork: "red", rollback: "red", unpinned: "grey", error: "red" };

async function check() {
  const pinned = pinnedKey.get();
  if (!pinned) return { state: "unpinned", text: "pin the log key in Settings to verify checkpoints" };
  let key;
  try {
    key = await parseVerifierKey(pinned);
  } catch (e) {
    return { state: "error", text: `the pinned key is unusable: ${e.message}` };
  }
  try {
    const cp = await verifyCheckpoint(await getText("/checkpoint", { auth: false }), key);
    const fetchProof = (from, to) => getText(`/proof/consistency?from=${from}&to=${to}`, { auth: false });
    const result = await compareWithStored(cp, lastCheckpoint.get(), fetchProof);
    if (result.store) lastCheckpoint.set(result.store);
    return { ...result, checkpoint: cp };
  } catch (e) {
    return { state: "error", text: e.message };
  }
}

let running = Promise.resolve();

/**
 * Runs one check (after any still running, so two never race over the stored
 * checkpoint) and shows it in `badge` and, for fork and rollback, in `alarm`.
 */
export function runConsistency(badge, alarm) {
  // The placeholder carries no test id: the badge appears once its state is known.
  replace(badge, h("span", { class: "pill grey" }, "checking log…"));
  running = running.then(check, check).then((r) => {
    show(badge, alarm, r);
    return r;
  });
  return running;
}

function show(badge, alarm, r) {
  replace(
    badge,
    h(
      r.state === "unpinned" ? "a" : "span",
      { class: `pill ${TONES[r.state]}`, testid: "consistency-status", dataset: { state: r.state }, title: r.text, href: r.state === "unpinned" ? "#/settings" : null },
      LABELS[r.state],
      r.checkpoint ? ` · size ${r.checkpoint.size}` : "",
    ),
  );
  if (r.state === "fork" || r.state === "rollback") {
    const title = `${r.state.toUpperCase()} DETECTED — the server's log does not extend the one this browser saw before. `;
    replace(alarm, h("div", { class: "alarm red", role: "alert" }, h("strong", {}, title), r.text));
  } else if (r.state === "error") {
    replace(alarm, h("div", { class: "alarm amber", role: "alert" }, h("strong", {}, "Checkpoint not verified: "), r.text));
  } else {
    replace(alarm);
  }
}
