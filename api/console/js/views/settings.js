// Settings: pin the log's verifier key (pasted by the user; what /log-key says is shown
// beside it for comparison and never pinned automatically), forget the last checkpoint.

import { getText } from "../api.js";
import { errorBox, facts, h, replace, section } from "../dom.js";
import { lastCheckpoint, pinnedKey } from "../store.js";
import { parseVerifierKey } from "../verify.js";

export async function render({ main }) {
  let served;
  try {
    served = (await getText("/log-key", { auth: false })).trim();
  } catch (e) {
    served = `(could not fetch /log-key: ${e.message})`;
  }
  draw(main, served);
}

function draw(main, served) {
  const pinned = pinnedKey.get();
  const input = h("input", { id: "log-key", type: "text", spellcheck: "false", autocomplete: "off", size: "90", placeholder: "name+keyid+base64key" });
  const status = h("div", { class: "status-slot" });
  const pin = h("button", { id: "pin-key", type: "button", on: { click: () => pinKey(main, served, input, status) } }, "Pin key");
  const same = pinned && served === pinned;
  const last = lastCheckpoint.get();
  replace(
    main,
    h("h1", {}, "Settings"),
    section(
      "Log key",
      h("p", { class: "muted" }, "Paste the log's verifier key from a source you trust (the operator, the evidence package, `ledgerd key`). Everything the console verifies is checked against this key."),
      facts([
        ["Pinned key", [h("code", { testid: "pinned-key" }, pinned || ""), pinned ? null : h("span", { class: "muted" }, "none")]],
        ["Server's /log-key", h("code", {}, served)],
        ["Comparison", pinned ? (same ? "the server announces the pinned key" : h("strong", { class: "text-red" }, "the server announces a different key than the pinned one")) : "nothing pinned yet"],
      ]),
      h("div", { class: "row" }, h("label", { for: "log-key" }, "Verifier key "), input, pin, pinned ? h("button", { type: "button", class: "secondary", on: { click: () => (pinnedKey.clear(), rerun()) } }, "Unpin") : null),
      status,
    ),
    section(
      "Last verified checkpoint",
      facts([
        ["Origin", last ? last.origin : "none"],
        ["Size", last ? String(last.size) : "—"],
        ["Root", last ? h("code", {}, last.root) : "—"],
      ]),
      h("button", { id: "forget-checkpoint", type: "button", class: "secondary", on: { click: () => (lastCheckpoint.clear(), rerun()) } }, "Forget last checkpoint"),
    ),
  );
}

async function pinKey(main, served, input, status) {
  try {
    const key = await parseVerifierKey(input.value);
    pinnedKey.set(key.text);
    rerun();
  } catch (e) {
    replace(status, errorBox(e.message));
  }
}

/** Runs the route again so the header's consistency badge uses the new settings. */
function rerun() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
