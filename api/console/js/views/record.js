// One record, verified in the browser: receipt parse, checkpoint origin, signature by
// the pinned key, SHA-256 of the record bytes against the hash in the route, inclusion
// of the leaf in the checkpoint's tree. Ready only once that and the header's
// consistency check are done.

import { getBytes, getText, NOT_FOUND_TEXT, seg } from "../api.js";
import { decodeCbor } from "../cbor.js";
import { errorBox, facts, h, replace, section } from "../dom.js";
import { recordFields } from "../record-fields.js";
import { pinnedKey } from "../store.js";
import { parseVerifierKey, toBase64, verifyRecord } from "../verify.js";

/** The failed check in words, by the contract's failure name. */
const FAILURES = {
  receipt_malformed: "the receipt is malformed or is not for this index",
  checkpoint_origin: "the receipt's checkpoint is from another log (its origin is not the pinned key's name)",
  checkpoint_signature: "the checkpoint is not signed by the pinned log key",
  record_hash: "the record bytes do not hash to the record hash in the link (tampered or missing record)",
  inclusion_proof: "the inclusion proof does not lead from this record to the checkpoint's root",
};

const settle = (p) => p.then((value) => ({ value }), (error) => ({ error }));

export async function render({ main, args, consistency }) {
  const [index, hashHex = ""] = args;
  if (!/^\d+$/.test(index || "") || !/^[0-9a-fA-F]{64}$/.test(hashHex)) {
    replace(main, errorBox("A record route is #/record/{index}/{64 hex digit record hash}."));
    await consistency;
    return;
  }
  const [receipt, bytes] = await Promise.all([settle(getText(`/receipt/${index}`)), settle(getBytes(`/v1/records/by-hash/${seg(hashHex)}`))]);
  const status = h("div", { class: "verify-slot" });
  replace(
    main,
    h("h1", {}, `Record ${index}`),
    facts([["Record hash (from the link)", h("code", {}, hashHex)]]),
    bytes.error ? errorBox(`Record bytes: ${bytes.error.status === 404 ? NOT_FOUND_TEXT : bytes.error.message}`) : null,
    section("Verification in this browser", status),
    bytes.value ? section("Fields (decoded from the record's CBOR bytes)", decoded(bytes.value)) : null,
    receipt.value ? section("Receipt (C2SP tlog-proof)", h("pre", { class: "receipt" }, receipt.value)) : null,
    bytes.value ? section("Record bytes (base64)", h("pre", { class: "receipt" }, toBase64(bytes.value))) : null,
  );
  await verify(status, index, hashHex, receipt, bytes);
  await consistency;
}

function decoded(bytes) {
  try {
    return recordFields(decodeCbor(bytes));
  } catch (e) {
    return errorBox(`The bytes are not CBOR this console can read: ${e.message}`);
  }
}

async function verify(slot, index, hashHex, receipt, bytes) {
  const pinned = pinnedKey.get();
  if (!pinned) {
    replace(slot, h("div", { class: "verify unpinned", testid: "verify-status", dataset: { state: "unpinned" } }, h("strong", {}, "Not verified: "), "no log key is pinned. ", h("a", { href: "#/settings" }, "Pin the log key in Settings"), " to verify records."));
    return;
  }
  let key;
  let result;
  try {
    key = await parseVerifierKey(pinned);
    result = await verifyRecord({
      index,
      hashHex,
      key,
      receiptText: receipt.value ?? null,
      recordBytes: bytes.value ?? null,
      fetchError: { receipt: receipt.error && `no receipt: ${receipt.error.message}`, record: bytes.error && `record bytes unavailable: ${bytes.error.status === 404 ? NOT_FOUND_TEXT : bytes.error.message}` },
    });
  } catch (e) {
    replace(slot, h("div", { class: "verify failed", testid: "verify-status", dataset: { state: "failed" } }, h("strong", {}, "✗ Cannot verify: "), e.message));
    return;
  }
  const ok = result.failure === null;
  const lines = result.checks.map((c) =>
    h("li", { class: c.ok === true ? "ok" : c.ok === false ? "bad" : "skipped", dataset: { check: c.id } }, c.ok === true ? "✓ " : c.ok === false ? "✗ " : "– ", c.label, c.detail ? h("span", { class: "detail" }, ` — ${c.detail}`) : c.ok === null || c.ok === undefined ? h("span", { class: "detail" }, " — not checked") : null),
  );
  const failed = result.checks.find((c) => c.ok === false);
  replace(
    slot,
    h(
      "div",
      { class: `verify ${ok ? "verified" : "failed"}`, testid: "verify-status", dataset: ok ? { state: "verified" } : { state: "failed", failure: result.failure } },
      h("strong", {}, ok ? `✓ Verified against ${key.name}+${key.keyIdHex}` : `✗ Verification failed: ${FAILURES[result.failure] || result.failure}`),
      ok ? ` — leaf ${index} is in the signed tree of size ${result.checkpoint.size}.` : ` (${result.failure}): ${failed ? failed.detail : ""}`,
    ),
    h("ul", { class: "checks" }, lines),
  );
}
