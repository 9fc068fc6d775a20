// Sign-in: the credential is checked with GET /v1/session before it is kept, and kept in
// sessionStorage only.

import { getJson } from "../api.js";
import { errorBox, h, replace } from "../dom.js";
import { token } from "../store.js";

export async function render({ main }) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "admin or read token", size: "60" });
  const status = h("div", { class: "status-slot" });
  const button = h("button", { id: "sign-in", type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "sign-in", on: { submit: (e) => (e.preventDefault(), signIn(input, status, button)) } },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Paste an admin credential or a read token. It is kept in this tab only (sessionStorage) and sent as a bearer token."),
    h("label", { for: "token" }, "Token"),
    input,
    button,
    status,
  );
  replace(main, form);
  input.focus();
}

async function signIn(input, status, button) {
  const t = input.value.trim();
  replace(status);
  if (!t) {
    replace(status, errorBox("Enter a token."));
    return;
  }
  button.disabled = true;
  try {
    const s = await getJson("/v1/session", { tokenOverride: t, signInOn401: false });
    token.set(t);
    replace(status, h("p", {}, `Signed in as ${s.role}.`));
    const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
    if (!name || name === "sign-in") location.hash = "#/fleet";
    else window.dispatchEvent(new HashChangeEvent("hashchange"));
  } catch (e) {
    const why =
      e.status === 401
        ? "the server does not know this token (401)"
        : e.status === 403
          ? `this credential cannot read dashboards (${e.code}): use an admin or read token`
          : e.message;
    replace(status, errorBox(`Sign-in failed: ${why}`));
  } finally {
    button.disabled = false;
  }
}
