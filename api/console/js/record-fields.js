// Names for the fields of a decoded record (docs/RECORDS.md §3 and §5), so the record
// view shows what was signed rather than raw CBOR. Anything unexpected is still shown,
// under its numeric key.

import { CborMap } from "./cbor.js";
import { h, pill, table } from "./dom.js";
import { time, tone } from "./format.js";
import { toHex } from "./verify.js";

const ENVELOPE = ["version", "kind", "site_id", "appliance_id", "sequence", "prev_hash", "time", "key_id", "body", "signature"];
const KINDS = { 1: "evidence", 2: "healing", 3: "key" };
const STATUS = ["pass", "warning", "fail", "error"];
const TIERS = { 1: "L1", 2: "L2", 3: "L3" };
const OUTCOMES = ["success", "failure", "escalated"];
const KEY_ACTIONS = ["enrolment", "rotation", "revocation"];
const REASONS = ["unspecified", "key_compromise", "decommissioned", "superseded"];
const HEALING = ["version", "incident_id", "check_type", "pattern_signature", "tier", "runbook_id", "action", "outcome", "started_at", "ended_at", "state_before", "state_after"];
const EVIDENCE = ["version", "items", "items_root", "item_count"];
const ITEM = ["check_type", "host", "status", "observed_at", "details", "controls"];
const KEY_BODIES = [
  ["version", "action", "site_id", "appliance_id", "public_key", "enrolment_token_id"],
  ["version", "action", "old_key_id", "new_public_key"],
  ["version", "action", "site_id", "appliance_id", "key_id", "reason"],
];

/** A generic rendering of any decoded CBOR value. */
export function plain(v) {
  if (v instanceof Uint8Array) return h("code", { class: "hex" }, v.length ? toHex(v) : "(empty bytes)");
  if (v instanceof CborMap) return h("dl", { class: "facts nested" }, v.entries.map(([k, x]) => [h("dt", {}, String(k)), h("dd", {}, plain(x))]));
  if (Array.isArray(v)) return v.length ? h("ol", { start: "0" }, v.map((x) => h("li", {}, plain(x)))) : "(empty array)";
  if (typeof v === "string") return v === "" ? h("span", { class: "muted" }, "(empty)") : v;
  return String(v);
}

function named(map, names, special = {}) {
  return h(
    "dl",
    { class: "facts" },
    map.entries.map(([k, v]) => {
      const name = names[k] || `key ${k}`;
      return [h("dt", {}, `${name} (${k})`), h("dd", {}, special[name] ? special[name](v) : plain(v))];
    }),
  );
}

function items(list) {
  if (!Array.isArray(list)) return plain(list);
  return table(
    ITEM.map((name, k) => [name, (m) => (name === "status" ? pill(STATUS[m.get(k)] || String(m.get(k)), tone(STATUS[m.get(k)])) : name === "observed_at" ? time(m.get(k)) : name === "controls" ? (m.get(k) || []).join(", ") : plain(m.get(k)))]),
    list.filter((m) => m instanceof CborMap),
  );
}

function body(kind, b) {
  if (!(b instanceof CborMap)) return plain(b);
  if (kind === 1) return named(b, EVIDENCE, { items });
  if (kind === 2) {
    return named(b, HEALING, {
      tier: (v) => `${TIERS[v] || v}`,
      outcome: (v) => pill(OUTCOMES[v] || String(v), tone(OUTCOMES[v])),
      started_at: (v) => `${time(v)} (${v})`,
      ended_at: (v) => `${time(v)} (${v})`,
    });
  }
  if (kind === 3) {
    const action = b.get(1);
    return named(b, KEY_BODIES[action] || ["version", "action"], { action: (v) => `${KEY_ACTIONS[v] || v} (${v})`, reason: (v) => `${REASONS[v] || v} (${v})` });
  }
  return plain(b);
}

/** The record's envelope and body as labelled fields. */
export function recordFields(decoded) {
  if (!(decoded instanceof CborMap)) return plain(decoded);
  const kind = decoded.get(1);
  return named(decoded, ENVELOPE, {
    kind: (v) => `${KINDS[v] || "unknown"} (${v})`,
    time: (v) => `${time(v)} (${v})`,
    body: (v) => body(kind, v),
  });
}
