// One record, verified in the browser: receipt parse, checkpoint origin, signature by
// the pinned key, SHA-256 of the record bytes against the hash in the route, inclusion
// of the leaf in the checkpoint's tree, and that the receipt's checkpoint belongs to the
// same history as the latest one the header verified (so a receipt signed on a split
// view of the log fails here too). Ready only once all of that is done.

import { getBytes, getText, NOT_FOUND_TEXT, seg } from "../api.js";
import { decodeCbor } from "../cbor.js";
import { errorBox, facts, h, replace, section } from "../dom.js";
import { recordFields } from "../record-fields.js";
import { pinnedKey } from "../store.js";
import { equalBytes, parseHashLines, parseVerifierKey, toBase64, verifyConsistency, VerifyError, verifyRecord } from "../verify.js";

/** The failed check in words, by the contract's failure name. */
const FAILURES = {
  receipt_malformed: "the receipt is malformed or is not for this index",
  checkpoint_origin: "the receipt's checkpoint is from another log (its origin is not the pinned key's name)",
  checkpoint_signature: "the checkpoint is not signed by the pinned log key",
  record_hash: "the record bytes do not hash to the record hash in the link (tampered or missing record)",
  inclusion_proof: "the inclusion proof does not lead from this record to the checkpoint's root",
  checkpoint_consistency: "the receipt's checkpoint is not consistent with the log's latest verified checkpoint (a split view)",
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
  await verify(status, index, hashHex, receipt, bytes, consistency);
}

function decoded(bytes) {
  try {
    return recordFields(decodeCbor(bytes));
  } catch (e) {
    return errorBox(`The bytes are not CBOR this console can read: ${e.message}`);
  }
}

async function verify(slot, index, hashHex, receipt, bytes, consistency) {
  const pinned = pinnedKey.get();
  if (!pinned) {
    await consistency;
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
    await crossCheck(result, await consistency);
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

/**
 * Adds the last check to a verified record's result: the receipt's checkpoint and the
 * latest checkpoint the header verified (`header.checkpoint`) must be one history —
 * equal roots at equal sizes, else an RFC 9162 consistency proof from the smaller to
 * the larger that verifies. Not run (and said so) when the header has no verified
 * checkpoint.
 */
async function crossCheck(result, header) {
  const check = { id: "checkpoint_consistency", label: "Receipt's checkpoint is consistent with the log's latest verified checkpoint" };
  result.checks.push(check);
  if (result.failure !== null) return;
  const latest = header && header.checkpoint;
  if (!latest) {
    check.ok = null;
    check.detail = "not checked: the log's latest checkpoint was not verified (see the header)";
    return;
  }
  const mine = result.checkpoint;
  const [a, b] = mine.size <= latest.size ? [mine, latest] : [latest, mine];
  try {
    if (a.size === b.size) {
      if (!equalBytes(a.root, b.root)) throw new VerifyError("checkpoint_consistency", `two roots for tree size ${a.size}`);
    } else {
      const text = await getText(`/proof/consistency?from=${a.size}&to=${b.size}`, { auth: false });
      await verifyConsistency(a.size, b.size, a.root, b.root, parseHashLines(text));
    }
    check.ok = true;
    check.detail = a.size === b.size ? `the same tree of size ${a.size}` : `consistency proof from size ${a.size} to ${b.size} verified`;
  } catch (e) {
    if (!(e instanceof VerifyError) && e.status === undefined) throw e;
    check.ok = false;
    check.detail = e.message;
    result.failure = "checkpoint_consistency";
  }
}
